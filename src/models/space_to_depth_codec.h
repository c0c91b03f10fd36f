// A lossless latent codec for pixel-space toy models: latents are the image in [-1, 1] with each
// f x f block of pixels folded into channels (pixel unshuffle), times a scaling factor. It stands
// where a Stable Diffusion pipeline has its AutoencoderKL (vae/ of the model directory,
// `_class_name: "SpaceToDepthCodec"`), so editing methods run unchanged: latent pixels are image
// blocks, and what DiffEdit pastes back outside the mask is the input image exactly.
// Chosen for the toy world over a trained VAE: no training budget spent, and no reconstruction
// error capping the unedited-region PSNR.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>

#include "core/config.h"

namespace diffedit::models {

struct SpaceToDepthConfig {
  std::int64_t in_channels = 3;
  std::int64_t factor = 2;
  double scaling_factor = 1.0;
  std::int64_t latent_channels() const { return in_channels * factor * factor; }

  // `_class_name` must be "SpaceToDepthCodec"; unknown keys are errors.
  static SpaceToDepthConfig from_json(const config::Json& json, const std::string& source);
  config::Json to_json() const;
};

// The codec of `dir/config.json` when that file names the SpaceToDepthCodec class (validated as
// from_json does); nullopt when it names another class or is absent.
std::optional<SpaceToDepthConfig> load_space_to_depth_codec(const std::filesystem::path& dir);

// image [B, C, H, W] in [-1, 1] (H, W multiples of factor) -> [B, C f^2, H/f, W/f] (unscaled).
at::Tensor space_to_depth(const at::Tensor& image, std::int64_t factor);
// The inverse.
at::Tensor depth_to_space(const at::Tensor& latent, std::int64_t factor);

}  // namespace diffedit::models
