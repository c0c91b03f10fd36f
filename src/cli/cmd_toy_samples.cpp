// `diffedit toy-samples`: a PNG grid of toy-world items — per item the input, the ground-truth
// edited image and the ground-truth edit region; with --model (a toy-sd directory) also the
// DiffEdit edit and its mask, the SDEdit edit at the same strength, and a generation from the
// input's class name — and their captions and edit queries on stdout.
#include <ATen/ATen.h>

#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "image/io.h"
#include "pipelines/pipeline.h"
#include "pipelines/txt2img.h"

namespace diffedit::cli {

namespace {
struct ToySamplesArgs {
  std::string out, split = "test", model, world = data::toyworld::kDefaultPreset;
  double strength = 0.5, guidance = 5.0;
  std::int64_t count = 12, columns = 4, scale = 4;
  std::uint64_t seed = 0;
};

int run_toy_samples(const ToySamplesArgs& a) {
  if (a.count < 1 || a.columns < 1 || a.scale < 1) throw InputError("--count/--columns/--scale", "must be positive");
  namespace tw = data::toyworld;
  const tw::WorldSpec world = tw::world_from_text(a.world, "--world");
  std::optional<pipelines::StableDiffusion> sd;
  std::unique_ptr<editing::EditMethod> diffedit, sdedit;
  if (!a.model.empty()) {
    sd = pipelines::StableDiffusion::load(a.model);
    const config::Json p = {{"strength", a.strength}, {"guidance", a.guidance}};
    diffedit = editing::make_method("diffedit", p, "toy-samples");
    sdedit = editing::make_method("sdedit", p, "toy-samples");
  }
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> cells;
  Progress progress("toy-samples", a.count);
  for (std::int64_t i = 0; i < a.count; ++i) {
    const tw::Item item = tw::generate(a.split, i, a.seed, world);
    std::cout << a.split << "/" << i << ": " << item.caption << "\n    edit (" << item.edit.kind << "): \"" << item.edit.query_caption
              << "\"  [" << item.edit.reference_class << " -> " << item.edit.query_class << "]\n";
    const at::Tensor region = item.edit.region.expand({3, -1, -1});
    const at::Tensor gap = at::ones({3, item.image.size(1), 1});
    std::vector<at::Tensor> panels = {item.image, gap, item.edit.target_image, gap, region};
    if (sd) {
      editing::EditRequest request;
      request.image = item.image.unsqueeze(0);
      request.query = item.edit.query_class;
      request.reference = "";  // as toy-imagenet (the paper's ImageNet protocol): no reference text
      request.seed = rng::derive_seed(a.seed, "toy-samples/" + std::to_string(i));
      editing::SeededNoise n1(request.seed), n2(request.seed);
      const auto d = diffedit->edit(*sd, request, n1);
      const auto e = sdedit->edit(*sd, request, n2);
      const at::Tensor mask =
          at::upsample_nearest2d(d.mask.to(at::kFloat), {item.image.size(1), item.image.size(2)})[0].expand({3, -1, -1});
      pipelines::Txt2ImgRequest t;
      t.prompt = tw::class_name(item.label);
      t.guidance = a.guidance;
      t.seed = request.seed;
      const auto g = pipelines::txt2img(*sd, t);
      const at::Tensor thick = at::zeros({3, item.image.size(1), 1});
      for (const at::Tensor& x : {thick, d.image[0], gap, mask, gap, e.image[0], gap, g.image}) panels.push_back(x.to(at::kFloat));
    }
    cells.push_back(at::cat(panels, 2));
    progress.advance();
  }
  progress.finish();
  // Rows of `columns` cells separated by white lines; pad the last row with white cells.
  const at::Tensor blank = at::ones_like(cells[0]);
  std::vector<at::Tensor> rows;
  for (std::size_t i = 0; i < cells.size(); i += static_cast<std::size_t>(a.columns)) {
    std::vector<at::Tensor> row;
    for (std::int64_t c = 0; c < a.columns; ++c) {
      const std::size_t k = i + static_cast<std::size_t>(c);
      row.push_back(k < cells.size() ? cells[k] : blank);
      row.push_back(at::ones({3, cells[0].size(1), 3}));
    }
    rows.push_back(at::cat(row, 2));
    rows.push_back(at::ones({3, 3, rows.back().size(2)}));
  }
  at::Tensor grid = at::cat(rows, 1);
  grid = at::upsample_nearest2d(grid.unsqueeze(0), {grid.size(1) * a.scale, grid.size(2) * a.scale})[0];
  image::write(a.out, grid);
  std::cout << "wrote " << a.out << " (each cell: input | ground-truth edit | edit region"
            << (sd ? " || DiffEdit | DiffEdit mask | SDEdit | generated from the input's class name" : "") << ")\n";
  return 0;
}
}  // namespace

Command add_toy_samples(CLI::App& app) {
  auto a = std::make_shared<ToySamplesArgs>();
  CLI::App* sub = app.add_subcommand("toy-samples", "Write a PNG grid of toy-world items with their ground-truth edits");
  sub->add_option("--out", a->out, "Output PNG")->required();
  sub->add_option("--split", a->split, "train, val or test")->capture_default_str();
  sub->add_option("--count", a->count, "Number of items")->capture_default_str();
  sub->add_option("--columns", a->columns, "Cells per row")->capture_default_str();
  sub->add_option("--scale", a->scale, "Pixel magnification")->capture_default_str();
  sub->add_option("--seed", a->seed, "World seed")->capture_default_str();
  sub->add_option("--world", a->world, "Toy world: a preset (basic, full) or a JSON object {\"preset\": ..., changes}")
      ->capture_default_str();
  sub->add_option("--model", a->model, "A toy-sd model directory: add DiffEdit and SDEdit edits and a generation per item");
  sub->add_option("--strength", a->strength, "Encoding ratio r of the edits")->capture_default_str();
  sub->add_option("--guidance", a->guidance, "Classifier-free guidance scale")->capture_default_str();
  return {sub, [a] { return run_toy_samples(*a); }};
}

}  // namespace diffedit::cli
