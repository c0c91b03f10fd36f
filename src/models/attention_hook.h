// A hook on the attention probabilities of the UNet's transformer blocks (Prompt-to-Prompt's
// cross-attention control edits them between the softmax and the product with the values).
// Unset (the default), attention runs exactly as without it: one null-pointer test per layer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace diffedit::models {

enum class UNetPlace { down, mid, up };

// One Attention module of the UNet: `index` counts the modules in execution order (down blocks,
// mid block, up blocks; attn1 then attn2 in each transformer block), as Prompt-to-Prompt counts
// its `cur_att_layer`.
struct AttentionSite {
  std::int64_t index = 0;
  bool is_cross = false;  // attn2 (keys from the text) or attn1 (self-attention)
  UNetPlace place = UNetPlace::down;
};

class AttentionHook {
 public:
  virtual ~AttentionHook() = default;
  // Asked once per forward pass of each module, before the scores are formed: false leaves that
  // pass to the plain (memory-sliced) kernel and on_probs is not called.
  virtual bool wants(const AttentionSite& /*site*/, std::int64_t /*queries*/) { return true; }
  // `probs`: softmax(q k^T scale) as [batch * heads, queries, keys], row b * heads + h. Returns
  // the probabilities to multiply with the values: `probs` itself (edited in place or not) or a
  // tensor of the same shape.
  virtual at::Tensor on_probs(const AttentionSite& site, at::Tensor probs) = 0;
};

}  // namespace diffedit::models
