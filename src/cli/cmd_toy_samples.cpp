// `diffedit toy-samples`: a PNG grid of toy-world items — per item the input, the ground-truth
// edited image and the ground-truth edit region — and their captions and edit queries on stdout.
#include <ATen/ATen.h>

#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/image_io.h"
#include "data/toyworld.h"

namespace diffedit::cli {

namespace {
struct ToySamplesArgs {
  std::string out, split = "test";
  std::int64_t count = 12, columns = 4, scale = 4;
  std::uint64_t seed = 0;
};

int run_toy_samples(const ToySamplesArgs& a) {
  if (a.count < 1 || a.columns < 1 || a.scale < 1) throw InputError("--count/--columns/--scale", "must be positive");
  namespace tw = data::toyworld;
  std::vector<at::Tensor> cells;
  for (std::int64_t i = 0; i < a.count; ++i) {
    const tw::Item item = tw::generate(a.split, i, a.seed);
    std::cout << a.split << "/" << i << ": " << item.caption << "\n    edit (" << item.edit.kind << "): \""
              << item.edit.query_caption << "\"  [" << item.edit.reference_class << " -> " << item.edit.query_class << "]\n";
    const at::Tensor region = item.edit.region.expand({3, -1, -1});
    const at::Tensor gap = at::ones({3, item.image.size(1), 1});
    cells.push_back(at::cat({item.image, gap, item.edit.target_image, gap, region}, 2));
  }
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
  std::cout << "wrote " << a.out << " (each cell: input | ground-truth edit | edit region)\n";
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
  return {sub, [a] { return run_toy_samples(*a); }};
}

}  // namespace diffedit::cli
