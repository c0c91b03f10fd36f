#include "models/blocks.h"

#include <torch/version.h>

#include <cmath>

// libtorch >= 2.1 has fused attention (flash / memory-efficient kernels) with an explicit scale.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define DIFFEDIT_HAS_SDPA 1
#endif

namespace diffedit::models {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

nn::Conv2d conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

nn::GroupNorm group_norm(std::int64_t groups, std::int64_t channels, double eps) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(eps).affine(true));
}

at::Tensor timestep_embedding(const at::Tensor& timesteps, std::int64_t dim, bool flip_sin_to_cos, double downscale_freq_shift,
                              double max_period) {
  const std::int64_t half = dim / 2;
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
  at::Tensor exponent = at::arange(0, half, f32) * (-std::log(max_period));
  exponent = exponent / (static_cast<double>(half) - downscale_freq_shift);
  at::Tensor emb = timesteps.unsqueeze(1).to(at::kFloat) * exponent.exp().unsqueeze(0);
  emb = at::cat({emb.sin(), emb.cos()}, -1);
  if (flip_sin_to_cos) emb = at::cat({emb.slice(1, half), emb.slice(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1, 0, 0}));
  return emb;
}

at::Tensor multihead_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t heads, double scale, bool upcast,
                               std::int64_t max_score_bytes, AttentionHook* hook, const AttentionSite& site) {
  const std::int64_t batch = q.size(0), nq = q.size(1), channels = q.size(2), nk = k.size(1);
  const std::int64_t d = channels / heads;
#ifdef DIFFEDIT_HAS_SDPA
  // On a GPU without a hook: the fused kernel, which never forms the N x M scores (what makes SD
  // fast there; diffusers' AttnProcessor2_0). The CPU keeps the sliced path below, whose exact
  // results the committed baselines hold.
  if (!hook && q.is_cuda()) {
    auto heads_first = [&](const at::Tensor& t) { return t.reshape({batch, t.size(1), heads, d}).transpose(1, 2); };
    const at::Tensor o = at::scaled_dot_product_attention(heads_first(q), heads_first(k), heads_first(v), {}, 0.0, false, scale);
    return o.transpose(1, 2).reshape({batch, nq, channels});
  }
#endif
  // [B, N, H*D] -> [B*H, N, D] (diffusers' head_to_batch_dim)
  auto split = [&](const at::Tensor& t) {
    return t.reshape({batch, t.size(1), heads, d}).permute({0, 2, 1, 3}).reshape({batch * heads, t.size(1), d});
  };
  at::Tensor qh = split(q), kh = split(k);
  const at::Tensor vh = split(v);
  if (upcast && qh.scalar_type() != at::kFloat) {
    qh = qh.to(at::kFloat);
    kh = kh.to(at::kFloat);
  }
  // Scaling q (N x D values) instead of the scores (N x M) saves a pass over the largest tensor;
  // it differs from diffusers' baddbmm(alpha=scale) only in the last bit.
  qh = qh * scale;
  const at::Tensor kt = kh.transpose(1, 2);
  at::Tensor out;
  if (hook || (at::GradMode::is_enabled() && (qh.requires_grad() || kh.requires_grad() || vh.requires_grad()))) {
    // Training: out= kernels do not record gradients, so take the unsliced path (training batches are small).
    // A hook sees the probabilities of every row at once.
    at::Tensor probs = at::bmm(qh, kt).softmax(-1);
    if (hook) probs = hook->on_probs(site, std::move(probs));
    if (probs.scalar_type() != vh.scalar_type()) probs = probs.to(vh.scalar_type());
    out = at::bmm(probs, vh);
    return out.reshape({batch, heads, nq, d}).permute({0, 2, 1, 3}).reshape({batch, nq, channels});
  }
  out = at::empty({batch * heads, nq, d}, vh.options());

  // Slice over (batch*heads) first, then over queries when a single head is too large.
  const std::int64_t bytes_per_row = nk * static_cast<std::int64_t>(qh.element_size());
  const std::int64_t rows_budget = std::max<std::int64_t>(1, max_score_bytes / std::max<std::int64_t>(1, bytes_per_row));
  const std::int64_t query_chunk = std::min(nq, rows_budget);
  const std::int64_t head_chunk = std::max<std::int64_t>(1, rows_budget / nq);
  for (std::int64_t h0 = 0; h0 < batch * heads; h0 += head_chunk) {
    const std::int64_t h1 = std::min(batch * heads, h0 + head_chunk);
    for (std::int64_t q0 = 0; q0 < nq; q0 += query_chunk) {
      const std::int64_t q1 = std::min(nq, q0 + query_chunk);
      at::Tensor scores = at::bmm(qh.slice(0, h0, h1).slice(1, q0, q1), kt.slice(0, h0, h1));
      at::Tensor probs = scores.softmax(-1);
      scores.reset();
      if (probs.scalar_type() != vh.scalar_type()) probs = probs.to(vh.scalar_type());
      at::Tensor target = out.slice(0, h0, h1).slice(1, q0, q1);
      if (target.is_contiguous())
        at::bmm_out(target, probs, vh.slice(0, h0, h1));
      else
        target.copy_(at::bmm(probs, vh.slice(0, h0, h1)));
    }
  }
  // [B*H, N, D] -> [B, N, H*D] (batch_to_head_dim)
  return out.reshape({batch, heads, nq, d}).permute({0, 2, 1, 3}).reshape({batch, nq, channels});
}

// ---------------------------------------------------------------------------------------------

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options_(o) {
  const std::int64_t inner = o.heads * o.head_dim;
  const std::int64_t context = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_groups > 0) group_norm = register_module("group_norm", models::group_norm(o.norm_groups, o.query_dim, o.norm_eps));
  to_q = register_module("to_q", nn::Linear(nn::LinearOptions(o.query_dim, inner).bias(o.bias)));
  to_k = register_module("to_k", nn::Linear(nn::LinearOptions(context, inner).bias(o.bias)));
  to_v = register_module("to_v", nn::Linear(nn::LinearOptions(context, inner).bias(o.bias)));
  out_proj_ = nn::Linear(nn::LinearOptions(inner, o.query_dim).bias(true));
  to_out = register_module("to_out", nn::ModuleList(out_proj_));
}

at::Tensor AttentionImpl::forward(const at::Tensor& input, const at::Tensor& context) {
  at::Tensor x = input;
  const bool spatial = input.dim() == 4;
  if (spatial) x = x.view({input.size(0), input.size(1), -1}).transpose(1, 2);  // [B, HW, C]
  if (group_norm) x = group_norm->forward(x.transpose(1, 2)).transpose(1, 2);
  const at::Tensor& ctx = context.defined() ? context : x;
  at::Tensor q = to_q->forward(x), k = to_k->forward(ctx), v = to_v->forward(ctx);
  if (hook_) hook_->on_projections(site_, q, k, v);
  AttentionHook* hook = hook_ && hook_->wants(site_, x.size(1)) ? hook_ : nullptr;
  at::Tensor h = multihead_attention(q, k, v, options_.heads, 1.0 / std::sqrt(static_cast<double>(options_.head_dim)), options_.upcast,
                                     std::int64_t{64} << 20, hook, site_);
  h = out_proj_->forward(h);
  if (spatial) h = h.transpose(-1, -2).reshape(input.sizes());
  if (options_.residual) h = h + input;
  return h;
}

// ---------------------------------------------------------------------------------------------

ResnetBlock2DImpl::ResnetBlock2DImpl(std::int64_t in, std::int64_t out, std::int64_t temb_channels, std::int64_t groups, double eps,
                                     double output_scale_factor)
    : output_scale_factor_(output_scale_factor) {
  norm1 = register_module("norm1", group_norm(groups, in, eps));
  conv1 = register_module("conv1", conv2d(in, out, 3, 1, 1));
  if (temb_channels > 0) time_emb_proj = register_module("time_emb_proj", nn::Linear(temb_channels, out));
  norm2 = register_module("norm2", group_norm(groups, out, eps));
  conv2 = register_module("conv2", conv2d(out, out, 3, 1, 1));
  if (in != out) conv_shortcut = register_module("conv_shortcut", conv2d(in, out, 1));
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& x, const at::Tensor& temb) {
  at::Tensor h = conv1->forward(at::silu(norm1->forward(x)));
  if (time_emb_proj && temb.defined()) h = h + time_emb_proj->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  h = conv2->forward(at::silu(norm2->forward(h)));
  if (hook_) h = hook_->on_residual(site_, std::move(h));
  at::Tensor out = (conv_shortcut ? conv_shortcut->forward(x) : x) + h;
  return output_scale_factor_ == 1.0 ? out : out / output_scale_factor_;
}

// ---------------------------------------------------------------------------------------------

GEGLUImpl::GEGLUImpl(std::int64_t dim, std::int64_t hidden) { proj = register_module("proj", nn::Linear(dim, hidden * 2)); }

at::Tensor GEGLUImpl::forward(const at::Tensor& x) {
  const auto parts = proj->forward(x).chunk(2, -1);
  return parts[0] * at::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(std::int64_t dim, std::int64_t mult) {
  geglu_ = GEGLU(dim, dim * mult);
  out_ = nn::Linear(dim * mult, dim);
  net = register_module("net", nn::ModuleList(geglu_, nn::Dropout(0.0), out_));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) { return out_->forward(geglu_->forward(x)); }

BasicTransformerBlockImpl::BasicTransformerBlockImpl(std::int64_t dim, std::int64_t heads, std::int64_t head_dim, std::int64_t context_dim,
                                                     bool upcast_attention) {
  auto layer_norm = [](std::int64_t c) { return nn::LayerNorm(nn::LayerNormOptions({c}).eps(1e-5).elementwise_affine(true)); };
  norm1 = register_module("norm1", layer_norm(dim));
  attn1 = register_module("attn1",
                          Attention(AttentionOptions{.query_dim = dim, .heads = heads, .head_dim = head_dim, .upcast = upcast_attention}));
  norm2 = register_module("norm2", layer_norm(dim));
  attn2 = register_module(
      "attn2",
      Attention(AttentionOptions{
          .query_dim = dim, .cross_attention_dim = context_dim, .heads = heads, .head_dim = head_dim, .upcast = upcast_attention}));
  norm3 = register_module("norm3", layer_norm(dim));
  ff = register_module("ff", FeedForward(dim));
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& input, const at::Tensor& context) {
  at::Tensor x = attn1->forward(norm1->forward(input)) + input;
  x = attn2->forward(norm2->forward(x), context) + x;
  return ff->forward(norm3->forward(x)) + x;
}

Transformer2DImpl::Transformer2DImpl(std::int64_t channels, std::int64_t heads, std::int64_t context_dim, std::int64_t groups,
                                     std::int64_t layers, bool use_linear_projection, bool upcast_attention) {
  norm = register_module("norm", group_norm(groups, channels, 1e-6));
  if (use_linear_projection)
    proj_in_linear = register_module("proj_in", nn::Linear(channels, channels));
  else
    proj_in_conv = register_module("proj_in", conv2d(channels, channels, 1));
  transformer_blocks = register_module("transformer_blocks", nn::ModuleList());
  for (std::int64_t i = 0; i < layers; ++i) {
    blocks_.push_back(BasicTransformerBlock(channels, heads, channels / heads, context_dim, upcast_attention));
    transformer_blocks->push_back(blocks_.back());
  }
  if (use_linear_projection)
    proj_out_linear = register_module("proj_out", nn::Linear(channels, channels));
  else
    proj_out_conv = register_module("proj_out", conv2d(channels, channels, 1));
}

at::Tensor Transformer2DImpl::forward(const at::Tensor& input, const at::Tensor& context) {
  const std::int64_t b = input.size(0), h = input.size(2), w = input.size(3);
  at::Tensor x = norm->forward(input);
  auto to_tokens = [&](const at::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({b, h * w, t.size(1)}); };
  auto to_image = [&](const at::Tensor& t) { return t.reshape({b, h, w, t.size(2)}).permute({0, 3, 1, 2}).contiguous(); };
  x = proj_in_conv ? to_tokens(proj_in_conv->forward(x)) : proj_in_linear->forward(to_tokens(x));
  for (auto& block : blocks_) x = block->forward(x, context);
  x = proj_out_conv ? proj_out_conv->forward(to_image(x)) : to_image(proj_out_linear->forward(x));
  return x + input;
}

// ---------------------------------------------------------------------------------------------

Downsample2DImpl::Downsample2DImpl(std::int64_t channels, std::int64_t padding) : padding_(padding) {
  conv = register_module("conv", conv2d(channels, channels, 3, 2, padding));
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x) {
  if (padding_ == 0) return conv->forward(F::pad(x, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kConstant).value(0)));
  return conv->forward(x);
}

Upsample2DImpl::Upsample2DImpl(std::int64_t channels) { conv = register_module("conv", conv2d(channels, channels, 3, 1, 1)); }

at::Tensor Upsample2DImpl::forward(const at::Tensor& x, std::optional<std::vector<std::int64_t>> size) {
  auto options = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size)
    options.size(*size);
  else
    options.scale_factor(std::vector<double>{2.0, 2.0});
  return conv->forward(F::interpolate(x, options));
}

}  // namespace diffedit::models
