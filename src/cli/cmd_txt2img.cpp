// `diffedit txt2img`: generate an image from a prompt with a diffusers-layout model directory.
// Writes the PNG and, beside it, a JSON record of every setting, the seed and the git revision.
#include <ATen/ATen.h>

#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/version.h"
#include "image/io.h"
#include "pipelines/txt2img.h"

namespace diffedit::cli {

namespace {
struct Txt2ImgArgs {
  std::string model, out, dtype = "float32", device = "cpu";
  std::optional<std::string> variant;
  pipelines::Txt2ImgRequest request;
};

int run_txt2img(const Txt2ImgArgs& a) {
  if (a.request.prompt.empty()) throw InputError("--prompt", "the prompt is empty");
  pipelines::LoadOptions options;
  options.dtype = pipelines::parse_dtype(a.dtype);
  options.device = parse_device(a.device);
  options.variant = a.variant;
  const auto start = std::chrono::steady_clock::now();
  auto sd = pipelines::StableDiffusion::load(a.model, options);
  Progress progress("txt2img", a.request.steps);
  const auto result = pipelines::txt2img(sd, a.request, [&](std::int64_t, std::int64_t) { progress.advance(); });
  progress.finish();
  image::write(a.out, result.image);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const config::Json record = {{"command", "txt2img"},
                               {"model", a.model},
                               {"prompt", a.request.prompt},
                               {"negative_prompt", a.request.negative_prompt},
                               {"steps", a.request.steps},
                               {"guidance", a.request.guidance},
                               {"seed", a.request.seed},
                               {"eta", a.request.eta},
                               {"clip_skip", a.request.clip_skip},
                               {"height", result.image.size(1)},
                               {"width", result.image.size(2)},
                               {"dtype", a.dtype},
                               {"device", a.device},
                               {"variant", a.variant ? config::Json(*a.variant) : config::Json(nullptr)},
                               {"sampler", "DDIM"},
                               {"scheduler_config", sd.scheduler.to_json()},
                               {"denoiser_evaluations", result.denoiser_evaluations},
                               {"seconds", seconds},
                               {"diffedit_version", std::string(version())},
                               {"git_revision", std::string(git_revision())}};
  fs::write_atomic(a.out + ".json", record.dump(2) + "\n");
  log::info("wrote ", a.out, " (", result.image.size(2), "x", result.image.size(1), ", ", result.denoiser_evaluations,
            " denoiser evaluations, ", seconds, " s)");
  return 0;
}
}  // namespace

Command add_txt2img(CLI::App& app) {
  auto a = std::make_shared<Txt2ImgArgs>();
  CLI::App* sub = app.add_subcommand("txt2img", "Generate an image from a prompt (DDIM, classifier-free guidance)");
  sub->add_option("--model", a->model, "Model directory in the diffusers layout (model_index.json, unet/, vae/, ...)")->required();
  sub->add_option("--prompt", a->request.prompt, "Text prompt")->required();
  sub->add_option("--negative-prompt", a->request.negative_prompt, "Unconditional text for guidance (default: empty)");
  sub->add_option("--steps", a->request.steps, "DDIM steps")->capture_default_str();
  sub->add_option("--guidance", a->request.guidance, "Classifier-free guidance scale (<= 1 disables it)")->capture_default_str();
  sub->add_option("--seed", a->request.seed, "Seed of the initial noise")->capture_default_str();
  sub->add_option("--height", a->request.height, "Image height (default: the model's sample size)");
  sub->add_option("--width", a->request.width, "Image width (default: the model's sample size)");
  sub->add_option("--eta", a->request.eta, "DDIM eta (0 = deterministic)")->capture_default_str();
  sub->add_option("--clip-skip", a->request.clip_skip, "Use the final LN of an earlier text-encoder layer")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "float32, float16 (CUDA) or bfloat16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--variant", a->variant, "Weights variant, e.g. fp16 (reads *.fp16.safetensors)");
  sub->add_option("--out", a->out, "Output PNG (a .json record is written beside it)")->required();
  return {sub, [a] { return run_txt2img(*a); }};
}

}  // namespace diffedit::cli
