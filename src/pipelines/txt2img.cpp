#include "pipelines/txt2img.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "core/rng.h"
#include "diffusion/schedulers.h"

namespace diffedit::pipelines {

std::vector<Txt2ImgResult> txt2img_batch(StableDiffusion& sd, const std::vector<std::string>& prompts,
                                         const std::vector<std::uint64_t>& seeds, const Txt2ImgRequest& r,
                                         const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  const std::int64_t f = sd.vae_scale_factor();
  const std::int64_t height = r.height > 0 ? r.height : sd.unet->config().sample_size * f;
  const std::int64_t width = r.width > 0 ? r.width : sd.unet->config().sample_size * f;
  if (height % f != 0 || width % f != 0) throw InputError("--height/--width", "must be multiples of the VAE factor " + std::to_string(f));
  if (r.steps < 1) throw InputError("--steps", "must be at least 1");
  if (prompts.empty() || prompts.size() != seeds.size()) throw InputError("txt2img", "one seed per prompt is needed");
  const auto n = static_cast<std::int64_t>(prompts.size());

  torch::NoGradGuard no_grad;
  const auto before = sd.denoiser.evaluations();
  const at::Tensor cond = sd.encode_prompts(prompts, r.clip_skip);
  const at::Tensor uncond =
      r.guidance > 1.0 ? sd.encode_prompts(std::vector<std::string>(prompts.size(), r.negative_prompt), r.clip_skip) : at::Tensor();

  diffusion::DDIMScheduler ddim(sd.scheduler);
  ddim.set_timesteps(r.steps);
  // One generator per image, seeded by its own seed: an image does not depend on its batch.
  std::vector<at::Generator> generators;
  for (const auto seed : seeds) generators.push_back(rng::cpu_generator(seed));
  const auto options = at::TensorOptions().dtype(at::kFloat).device(sd.options.device);
  auto draw = [&](at::IntArrayRef shape) {
    std::vector<at::Tensor> parts;
    for (auto& g : generators) parts.push_back(rng::randn(shape, g, options));
    return at::cat(parts);
  };
  const std::vector<std::int64_t> shape = {1, sd.unet->config().in_channels, height / f, width / f};
  at::Tensor latents = draw(shape) * static_cast<double>(ddim.init_noise_sigma());

  const auto& timesteps = ddim.timesteps();
  for (std::size_t i = 0; i < timesteps.size(); ++i) {
    const std::int64_t t = timesteps[i];
    const at::Tensor eps = sd.denoiser.guided(latents, t, cond, uncond, r.guidance);
    std::optional<at::Tensor> noise;
    if (r.eta > 0) noise = draw(shape);
    latents = ddim.step(eps, t, latents, r.eta, noise).prev_sample;
    if (!at::isfinite(latents).all().item<bool>())
      throw NumericError("txt2img", "latents became non-finite at step " + std::to_string(i) + " (t=" + std::to_string(t) + ")");
    if (on_step) on_step(static_cast<std::int64_t>(i) + 1, static_cast<std::int64_t>(timesteps.size()));
  }
  const at::Tensor images = sd.decode(latents).to(at::kCPU);
  const std::int64_t evaluations = (sd.denoiser.evaluations() - before) / n;
  std::vector<Txt2ImgResult> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back({images[i], evaluations});
  return out;
}

Txt2ImgResult txt2img(StableDiffusion& sd, const Txt2ImgRequest& r, const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  return txt2img_batch(sd, {r.prompt}, {r.seed}, r, on_step).front();
}

}  // namespace diffedit::pipelines
