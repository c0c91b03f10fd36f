// Building blocks shared by the Stable Diffusion networks (UNet and VAE), with diffusers'
// submodule names so parameter names match checkpoints without any renaming table.
#pragma once

#include <torch/nn.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/unet_hooks.h"

namespace diffedit::models {

// Named intermediate activations recorded by forward passes (for parity tests and debugging).
using Trace = std::map<std::string, at::Tensor>;

// Sinusoidal timestep embedding (Vaswani et al. 2017, as in diffusers' get_timestep_embedding),
// computed in float32: [N] -> [N, dim].
at::Tensor timestep_embedding(const at::Tensor& timesteps, std::int64_t dim, bool flip_sin_to_cos, double downscale_freq_shift,
                              double max_period = 10000.0);

// Multi-head scaled dot-product attention on [B, N, heads*D] tensors. Scores are formed with
// bmm on pre-scaled queries (never baddbmm with beta=0, which reads uninitialised memory on CPU
// in libtorch 1.13) and are computed in slices over (batch x heads) and queries so that no more than
// `max_score_bytes` of scores exist at once. `upcast` computes scores and softmax in float32.
// With a `hook`, the probabilities of all rows are formed at once (no slicing) and passed through
// it (models/unet_hooks.h) before the product with the values. On CUDA with libtorch >= 2.1
// and no hook, libtorch's fused scaled_dot_product_attention runs instead (`upcast` is then the
// kernel's own float32 accumulation).
at::Tensor multihead_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t heads, double scale, bool upcast,
                               std::int64_t max_score_bytes = std::int64_t{64} << 20, AttentionHook* hook = nullptr,
                               const AttentionSite& site = {});

// diffusers `Attention` (AttnProcessor semantics): to_q/to_k/to_v (+bias optional), to_out.0,
// optional GroupNorm on the input and residual connection (the VAE's single-head block).
struct AttentionOptions {
  std::int64_t query_dim = 0;
  std::int64_t cross_attention_dim = 0;  // 0: self-attention
  std::int64_t heads = 1;
  std::int64_t head_dim = 0;
  bool bias = false;
  bool upcast = false;
  std::int64_t norm_groups = 0;  // >0: GroupNorm on the input (VAE)
  double norm_eps = 1e-6;
  bool residual = false;
};
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  // x: [B, N, C] (or [B, C, H, W] for the spatial VAE form); context: [B, M, Cc] or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {});
  // Projections and probabilities of every forward pass go through `hook` (null: none) as `site`; not owned.
  void set_hook(AttentionHook* hook, const AttentionSite& site) {
    hook_ = hook;
    site_ = site;
  }

  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};

 private:
  AttentionOptions options_;
  torch::nn::Linear out_proj_{nullptr};
  AttentionHook* hook_ = nullptr;
  AttentionSite site_{};
};
TORCH_MODULE(Attention);

// diffusers ResnetBlock2D with the "default" time-embedding norm: GN-SiLU-conv, + temb, GN-SiLU-conv,
// plus the (1x1-projected) input.
class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  ResnetBlock2DImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t temb_channels, std::int64_t groups, double eps,
                    double output_scale_factor = 1.0);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {});
  // The residual branch of every forward pass goes through `hook` (null: none) as `site`; not owned.
  void set_hook(ResnetHook* hook, const ResnetSite& site) {
    hook_ = hook;
    site_ = site;
  }

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};

 private:
  double output_scale_factor_;
  ResnetHook* hook_ = nullptr;
  ResnetSite site_{};
};
TORCH_MODULE(ResnetBlock2D);

// GEGLU (Shazeer 2020): proj Linear(C, 2H) -> first half * gelu(second half), exact erf GELU.
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(std::int64_t dim, std::int64_t hidden);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// Feed-forward of the transformer block: net.0 = GEGLU(C, 4C), net.1 = dropout, net.2 = Linear(4C, C).
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(std::int64_t dim, std::int64_t mult = 4);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList net{nullptr};

 private:
  GEGLU geglu_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(FeedForward);

// Self-attention, cross-attention and feed-forward, each pre-LayerNorm with a residual.
class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(std::int64_t dim, std::int64_t heads, std::int64_t head_dim, std::int64_t context_dim, bool upcast_attention);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// Spatial transformer (diffusers Transformer2DModel, continuous input): GN, proj_in (1x1 conv, or
// Linear with use_linear_projection), transformer blocks over H*W tokens, proj_out, + input.
class Transformer2DImpl : public torch::nn::Module {
 public:
  Transformer2DImpl(std::int64_t channels, std::int64_t heads, std::int64_t context_dim, std::int64_t groups, std::int64_t layers,
                    bool use_linear_projection, bool upcast_attention);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  const std::vector<BasicTransformerBlock>& blocks() const { return blocks_; }

  torch::nn::GroupNorm norm{nullptr};
  // Registered as "proj_in"/"proj_out": 1x1 convs (SD1) or Linear layers (SD2).
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};

 private:
  std::vector<BasicTransformerBlock> blocks_;
};
TORCH_MODULE(Transformer2D);

// Strided 3x3 conv; padding 0 means diffusers' asymmetric zero pad (right and bottom by one).
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(std::int64_t channels, std::int64_t padding);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};

 private:
  std::int64_t padding_;
};
TORCH_MODULE(Downsample2D);

// Nearest-neighbour x2 (or to `size`) then a 3x3 conv.
class Upsample2DImpl : public torch::nn::Module {
 public:
  explicit Upsample2DImpl(std::int64_t channels);
  at::Tensor forward(const at::Tensor& x, std::optional<std::vector<std::int64_t>> size = std::nullopt);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

torch::nn::Conv2d conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride = 1, std::int64_t padding = 0);
torch::nn::GroupNorm group_norm(std::int64_t groups, std::int64_t channels, double eps);

}  // namespace diffedit::models
