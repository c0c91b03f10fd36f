// UNet2DConditionModel (the Stable Diffusion 1.x / 2.x denoiser) as a native libtorch module with
// diffusers' parameter names, configured from the model's config.json.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/blocks.h"

namespace diffedit::models {

struct UNetConfig {
  std::int64_t in_channels = 4;
  std::int64_t out_channels = 4;
  std::int64_t sample_size = 64;
  std::vector<std::string> down_block_types;
  std::vector<std::string> up_block_types;
  std::vector<std::int64_t> block_out_channels;
  std::vector<std::int64_t> layers_per_block;              // per down block
  std::vector<std::int64_t> transformer_layers_per_block;  // per down block
  std::vector<std::int64_t> num_attention_heads;           // per down block (diffusers' attention_head_dim)
  std::int64_t cross_attention_dim = 768;
  std::int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  double resnet_out_scale_factor = 1.0;
  bool flip_sin_to_cos = true;
  double freq_shift = 0.0;
  std::int64_t time_embedding_dim = 0;  // 0: 4 * block_out_channels[0]
  bool use_linear_projection = false;
  bool upcast_attention = false;
  std::int64_t conv_in_kernel = 3;
  std::int64_t conv_out_kernel = 3;

  // Reads diffusers' config.json; features outside the SD 1.x/2.x layout (class or addition
  // embeddings, time-conditioning projections, ...) are errors naming the key.
  static UNetConfig from_json(const config::Json& json, const std::string& source);
  static UNetConfig load(const std::filesystem::path& path);
};

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(const UNetConfig& config);

  // sample [B, C, H, W]; timesteps: 0-dim, [1] or [B] (int or float); context [B, L, D].
  // Returns the predicted noise (or v) [B, out_channels, H, W]. When `trace` is given, it
  // receives time_proj, time_embedding, conv_in, down_blocks.i, mid_block, up_blocks.i, conv_norm_out.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timesteps, const at::Tensor& context, Trace* trace = nullptr);

  const UNetConfig& config() const { return config_; }

  // Routes the projections and attention probabilities of every Attention module of the
  // transformer blocks through `hook` (null: none, the default), each with its site
  // (models/unet_hooks.h); not owned.
  void set_attention_hook(AttentionHook* hook);
  // Routes the residual branch of every ResnetBlock2D through `hook` (null: none); not owned.
  void set_resnet_hook(ResnetHook* hook);
  // The sites in execution order (attention site i has index i).
  std::vector<AttentionSite> attention_sites() const;
  std::vector<ResnetSite> resnet_sites() const;

 private:
  // Calls f(module, its site) for every Attention module / ResnetBlock2D in execution order.
  template <typename F>
  void for_each_attention(F&& f) const;
  template <typename F>
  void for_each_resnet(F&& f) const;

  struct Level {  // one down or up block: resnets, optional attentions, optional resampler
    std::vector<ResnetBlock2D> resnets;
    std::vector<Transformer2D> attentions;
    Downsample2D down{nullptr};
    Upsample2D up{nullptr};
  };

  UNetConfig config_;
  torch::nn::Linear linear_1_{nullptr}, linear_2_{nullptr};
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  std::vector<Level> down_, up_;
  Level mid_;
};
TORCH_MODULE(UNet2DConditionModel);

// Sets hooks on a UNet for the lifetime of the guard and clears them after (also on exceptions).
class ScopedUNetHooks {
 public:
  ScopedUNetHooks(UNet2DConditionModel unet, AttentionHook* attention, ResnetHook* resnet = nullptr) : unet_(std::move(unet)) {
    unet_->set_attention_hook(attention);
    unet_->set_resnet_hook(resnet);
  }
  ~ScopedUNetHooks() {
    unet_->set_attention_hook(nullptr);
    unet_->set_resnet_hook(nullptr);
  }
  ScopedUNetHooks(const ScopedUNetHooks&) = delete;
  ScopedUNetHooks& operator=(const ScopedUNetHooks&) = delete;

 private:
  UNet2DConditionModel unet_;
};

// Builds the model from `dir/config.json` and loads `dir/diffusion_pytorch_model[.variant].safetensors`.
UNet2DConditionModel load_unet(const std::filesystem::path& dir, const std::optional<std::string>& variant = std::nullopt);

}  // namespace diffedit::models
