// Text-to-image sampling with DDIM (Song et al. 2021) and classifier-free guidance, the smoke test
// of the whole native stack. Whatever scheduler class the checkpoint names, its noise schedule is
// sampled with DDIM (as the DiffEdit paper does).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipelines/pipeline.h"

namespace diffedit::pipelines {

struct Txt2ImgRequest {
  std::string prompt{};
  std::string negative_prompt{};  // the unconditional text ("" by default)
  std::int64_t steps = 50;
  double guidance = 7.5;
  std::uint64_t seed = 0;
  std::int64_t height = 0, width = 0;  // 0: the UNet's sample_size times the VAE factor
  double eta = 0.0;
  std::int64_t clip_skip = 0;
};

struct Txt2ImgResult {
  at::Tensor image;                       // [3, H, W] in [0, 1], float32, CPU
  std::int64_t denoiser_evaluations = 0;  // per image per UNet evaluation (a guided pair counts 2)
};

// `on_step(i, n)` is called after every denoising step. NumericError naming the step if the
// latents stop being finite.
Txt2ImgResult txt2img(StableDiffusion& sd, const Txt2ImgRequest& request,
                      const std::function<void(std::int64_t, std::int64_t)>& on_step = {});

// Several prompts in one batch; image i starts from the noise of seeds[i] alone (as txt2img with
// that prompt and seed would), the other settings come from `common` (its prompt and seed unused).
// `denoiser_evaluations` is per image.
std::vector<Txt2ImgResult> txt2img_batch(StableDiffusion& sd, const std::vector<std::string>& prompts,
                                         const std::vector<std::uint64_t>& seeds, const Txt2ImgRequest& common,
                                         const std::function<void(std::int64_t, std::int64_t)>& on_step = {});

}  // namespace diffedit::pipelines
