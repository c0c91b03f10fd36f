// Hooks into the UNet's forward pass, for the training-free editors that steer one branch of a
// batch by another branch's internals: Prompt-to-Prompt edits attention probabilities (on_probs);
// MasaCtrl and Plug-and-Play replace a branch's self-attention projections (on_projections), and
// Plug-and-Play a decoder resnet's features (ResnetHook). Unset (the default), the UNet runs
// exactly as without them: one null-pointer test per module.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace diffedit::models {

enum class UNetPlace { down, mid, up };

// One Attention module of the UNet: `index` counts the modules in execution order (down blocks,
// mid block, up blocks; attn1 then attn2 in each transformer block), as Prompt-to-Prompt counts
// its `cur_att_layer` (index / 2 is MasaCtrl's layer: the transformer block). Its diffusers path
// is {down,up}_blocks[block] (mid_block: block 0) .attentions[layer].transformer_blocks[transformer].
struct AttentionSite {
  std::int64_t index = 0;
  bool is_cross = false;  // attn2 (keys from the text) or attn1 (self-attention)
  UNetPlace place = UNetPlace::down;
  std::int64_t block = 0, layer = 0, transformer = 0;
};

class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  // Once per forward pass of each module, after the projections: q [B, N, heads * D] and k, v
  // [B, M, heads * D] (row b: the batch's image b) may be replaced, e.g. by another row's.
  virtual void on_projections(const AttentionSite& /*site*/, at::Tensor& /*q*/, at::Tensor& /*k*/, at::Tensor& /*v*/) {}
  // Asked once per forward pass of each module, after on_projections and before the scores are
  // formed: false leaves that pass to the plain kernel (memory-sliced, or fused on CUDA) and
  // on_probs is not called.
  virtual bool wants(const AttentionSite& /*site*/, std::int64_t /*queries*/) { return true; }
  // `probs`: softmax(q k^T scale) as [batch * heads, queries, keys], row b * heads + h. Returns
  // the probabilities to multiply with the values: `probs` itself (edited in place or not) or a
  // tensor of the same shape.
  virtual at::Tensor on_probs(const AttentionSite& /*site*/, at::Tensor probs) { return probs; }
};

// One ResnetBlock2D of the UNet: {down,up}_blocks[block].resnets[layer] (mid_block: block 0).
struct ResnetSite {
  UNetPlace place = UNetPlace::down;
  std::int64_t block = 0, layer = 0;
};

class ResnetHook {
 public:
  virtual ~ResnetHook() = default;
  // The residual branch's output h [B, C, H, W] (after conv2, before the shortcut is added):
  // returns what is added to the shortcut (`h` itself, or a tensor of the same shape).
  virtual at::Tensor on_residual(const ResnetSite& site, at::Tensor h) = 0;
};

}  // namespace diffedit::models
