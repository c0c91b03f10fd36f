// `diffedit edit`: one edit of one image with any registered method. Writes the edited image, the
// mask and mask map (upsampled to the image for viewing; nearest neighbour), and a JSON record of
// the method, every parameter, the seed, the model, counters and the git revision.
#include <ATen/ATen.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "image/io.h"

namespace diffedit::cli {

namespace {

struct EditArgs {
  std::string model, image, query, reference, method = "diffedit", out, mask, dtype = "float32", device = "cpu";
  std::optional<double> strength, threshold, guidance;
  std::optional<std::int64_t> steps;
  std::uint64_t seed = 0;
  std::int64_t target_class = -1, source_class = -1;
  std::vector<std::string> overrides;
};

at::Tensor to_image_size(const at::Tensor& m, const at::Tensor& image) {
  return at::upsample_nearest2d(m.to(at::kFloat), {image.size(2), image.size(3)})[0];
}

int run_edit(const EditArgs& a) {
  // Parameters: the flags given, then KEY=VALUE overrides; the method's schema checks them all.
  config::Json params = config::Json::object();
  if (a.strength) params["strength"] = *a.strength;
  if (a.threshold) params["threshold"] = *a.threshold;
  if (a.steps) params["steps"] = *a.steps;
  if (a.guidance) params["guidance"] = *a.guidance;
  for (const auto& text : a.overrides) config::apply_override(params, config::parse_override(text));
  auto method = editing::make_method(a.method, params, "diffedit edit --method " + a.method);

  editing::EditRequest request;
  request.image = image::read(a.image).unsqueeze(0);
  request.query = a.query;
  request.reference = a.reference;
  request.seed = a.seed;
  request.target_label = a.target_class;
  request.source_label = a.source_class;
  if (!a.mask.empty()) request.oracle_mask = (image::read(a.mask, {.color = image::Color::gray}) > 0.5).to(at::kFloat).unsqueeze(0);

  pipelines::LoadOptions options;
  options.dtype = pipelines::parse_dtype(a.dtype);
  options.device = parse_device(a.device);
  auto sd = pipelines::StableDiffusion::load(a.model, options);
  editing::SeededNoise noise(a.seed);
  const editing::EditResult result = method->edit(sd, request, noise);

  const std::filesystem::path out(a.out);
  std::filesystem::create_directories(out);
  image::write(out / "edited.png", result.image[0]);
  if (result.mask.defined()) image::write(out / "mask.png", to_image_size(result.mask, request.image));
  if (result.mask_map.defined()) image::write(out / "mask_map.png", to_image_size(result.mask_map, request.image), {.bit_depth = 16});
  const config::Json record = {
      {"command", "edit"},
      {"method", method->name()},
      {"parameters", method->parameters()},
      {"model", a.model},
      {"image", a.image},
      {"query", a.query},
      {"reference", a.reference},
      {"oracle_mask", a.mask.empty() ? config::Json(nullptr) : config::Json(a.mask)},
      {"seed", a.seed},
      {"dtype", a.dtype},
      {"device", a.device},
      {"counters", {{"denoiser_evaluations", result.denoiser_evaluations}, {"seconds", result.seconds}}},
      {"mask_fraction", result.mask.defined() ? config::Json(result.mask.mean().item<double>()) : config::Json(nullptr)},
      {"details", result.details},
      {"diffedit_version", std::string(version())},
      {"git_revision", std::string(git_revision())}};
  fs::write_atomic(out / "record.json", record.dump(2) + "\n");
  log::info("edited ", a.image, " with ", method->name(), " -> ", out.string(), " (", result.denoiser_evaluations,
            " denoiser evaluations, ", result.seconds, " s)");
  return 0;
}

}  // namespace

Command add_edit(CLI::App& app) {
  auto a = std::make_shared<EditArgs>();
  CLI::App* sub =
      app.add_subcommand("edit", "Edit one image with a text query (DiffEdit, its ablations, SDEdit, ILVR, FlexIT, Copy, Retrieve)");
  sub->add_option("--model", a->model, "Model directory in the diffusers layout")->required();
  sub->add_option("--image", a->image, "Input image (PNG/JPEG)")->required();
  sub->add_option("--query", a->query, "Text describing the edited image (Q)")->required();
  sub->add_option("--reference", a->reference, "Text describing the input (R); empty by default");
  sub->add_option("--method", a->method, "Editing method (see below)")->capture_default_str();
  sub->add_option("--strength", a->strength, "Encoding ratio r (SDEdit: t0)");
  sub->add_option("--threshold", a->threshold, "Mask threshold");
  sub->add_option("--steps", a->steps, "DDIM steps");
  sub->add_option("--guidance", a->guidance, "Classifier-free guidance scale");
  sub->add_option("--seed", a->seed, "Seed of every random draw")->capture_default_str();
  sub->add_option("--target-class", a->target_class, "Class id of the wanted edit (retrieve)");
  sub->add_option("--source-class", a->source_class, "Class id of the input");
  sub->add_option("--mask", a->mask, "Pixel mask for diffedit_oracle_mask (white = edit)");
  sub->add_option("--dtype", a->dtype, "float32, float16 (CUDA) or bfloat16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--out", a->out, "Output directory: edited.png, mask.png, mask_map.png, record.json")->required();
  sub->add_option("parameters", a->overrides, "Further method parameters as KEY=VALUE (e.g. mode=diffusers_compat)");
  std::string footer = "Methods:\n";
  for (const auto& [name, description] : editing::method_catalogue()) footer += "  " + name + "\n      " + description + "\n";
  sub->footer(footer);
  return {sub, [a] { return run_edit(*a); }};
}

}  // namespace diffedit::cli
