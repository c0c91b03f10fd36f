// AutoencoderKL (the Stable Diffusion VAE, Rombach et al. 2022) as a native libtorch module with
// diffusers' parameter names. The latent scaling factor is part of the config but is applied by
// the pipeline, not here (as in diffusers).
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/blocks.h"

namespace diffedit::models {

struct VAEConfig {
  std::int64_t in_channels = 3;
  std::int64_t out_channels = 3;
  std::int64_t latent_channels = 4;
  std::vector<std::int64_t> block_out_channels{64};
  std::int64_t layers_per_block = 1;
  std::int64_t norm_num_groups = 32;
  std::int64_t sample_size = 32;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  bool force_upcast = true;

  static VAEConfig from_json(const config::Json& json, const std::string& source);
  static VAEConfig load(const std::filesystem::path& path);
};

// The encoder's diagonal Gaussian over latents (logvar clamped to [-30, 20]).
struct LatentDistribution {
  at::Tensor mean, logvar, std;
  at::Tensor mode() const { return mean; }
  // mean + std * noise; the caller draws the noise (so it controls the generator).
  at::Tensor sample(const at::Tensor& noise) const { return mean + std * noise; }
};

// Encoder and decoder share this structure: conv_in, blocks, mid block, GN-SiLU-conv_out.
class VAEMidBlockImpl : public torch::nn::Module {
 public:
  VAEMidBlockImpl(std::int64_t channels, std::int64_t groups, bool attention);
  at::Tensor forward(const at::Tensor& x);

 private:
  std::vector<ResnetBlock2D> resnets_;
  Attention attention_{nullptr};
};
TORCH_MODULE(VAEMidBlock);

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const VAEConfig& config);

  // image [B, 3, H, W] in [-1, 1] -> latent distribution [B, latent_channels, H/f, W/f].
  LatentDistribution encode(const at::Tensor& image, Trace* trace = nullptr);
  // latent (unscaled) -> image in about [-1, 1].
  at::Tensor decode(const at::Tensor& latent, Trace* trace = nullptr);

  const VAEConfig& config() const { return config_; }
  std::int64_t downscale_factor() const { return std::int64_t{1} << (config_.block_out_channels.size() - 1); }

 private:
  struct Stage {
    std::vector<ResnetBlock2D> resnets;
    Downsample2D down{nullptr};
    Upsample2D up{nullptr};
  };
  VAEConfig config_;
  torch::nn::Conv2d enc_conv_in_{nullptr}, enc_conv_out_{nullptr}, dec_conv_in_{nullptr}, dec_conv_out_{nullptr};
  torch::nn::GroupNorm enc_norm_out_{nullptr}, dec_norm_out_{nullptr};
  torch::nn::Conv2d quant_conv_{nullptr}, post_quant_conv_{nullptr};
  VAEMidBlock enc_mid_{nullptr}, dec_mid_{nullptr};
  std::vector<Stage> enc_stages_, dec_stages_;
};
TORCH_MODULE(AutoencoderKL);

AutoencoderKL load_vae(const std::filesystem::path& dir, const std::optional<std::string>& variant = std::nullopt);

}  // namespace diffedit::models
