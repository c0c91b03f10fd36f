// Prompt-to-Prompt's attention controller (Hertz et al. 2022; the AttentionControlEdit family of
// google/prompt-to-prompt's notebook) as a UNet attention hook (models/unet_hooks.h), for a
// batch of two images: row 0 generated under the source prompt, row 1 under the target prompt.
//
// On every attention module, only the conditional half of the batch is edited, and within it only
// the target row: cross-attention maps become edit(source, target) * alpha + (1 - alpha) * target
// with the step's word weights alpha; inside the self-replacement window, self-attention maps with
// few enough queries are replaced by the source's. LocalBlend keeps the source latent outside a
// mask made from the summed cross-attention of chosen words, after each step.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "editing/dual_branch.h"

namespace diffedit::editing::p2p {

// How the target's cross-attention is rebuilt from the source's (replace_cross_attention).
enum class CrossEdit {
  replace,   // AttentionReplace: einsum('hpw,bwn->bhpn', source, mapper)
  refine,    // AttentionRefine: source[:, :, index] * alphas + target * (1 - alphas)
  reweight,  // AttentionReweight: source * equalizer
};

// The reference's resolution constants are for SD at 512 px (64x64 latent); here they follow the
// latent's size h x w: self-replacement for maps with q <= 16^2 -> (h/4)(w/4) queries; LocalBlend
// reads the down- and up-block cross-attention maps at 16x16 -> (h/4, w/4). (The reference takes
// down_cross[2:4] + up_cross[:3] of its store of maps with q <= 32^2: for the SD 1/2 layouts exactly
// the down and up maps at that size, which is the rule here, so that other layouts work too.)
struct Geometry {
  std::int64_t self_replace_max_queries = 0;
  std::int64_t blend_h = 0, blend_w = 0;
  static Geometry for_latent(std::int64_t h, std::int64_t w);
};

struct ControllerSpec {
  CrossEdit edit = CrossEdit::replace;
  at::Tensor cross_alpha;                                   // [T + 1, 77] (cross_replace_alpha)
  std::pair<std::int64_t, std::int64_t> self_window{0, 0};  // steps [first, last)
  at::Tensor mapper;                                        // replace: [77, 77]
  at::Tensor refine_index;   // refine: [77] int64, -1 for inserted tokens (read as the last key, as Python's -1)
  at::Tensor refine_alphas;  // refine: [77]
  // Re-weighting: with edit = reweight alone, or chained after replace / refine (the reference's
  // AttentionReweight with prev_controller). Undefined: none.
  at::Tensor equalizer;  // [77]
  // LocalBlend: undefined alpha = off.
  at::Tensor blend_alpha;  // [2, 77]
  double blend_threshold = 0.3;
  Geometry geometry;
};

class Controller : public BranchControl {
 public:
  explicit Controller(ControllerSpec spec);

  // `guided`: the UNet batch is [uncond; cond] and only its second half is edited.
  void set_guided(bool guided) override { guided_ = guided; }
  // Before each UNet call: the denoising step's index (0 ... T-1).
  void begin_step(std::int64_t step) override;
  // After each UNet call: adds the step's maps to the attention store (between_steps).
  void end_step() override;
  // After the scheduler step: LocalBlend on latents [2, C, H, W] (identity without it).
  at::Tensor step_callback(const at::Tensor& latents) override;
  // LocalBlend's last mask [1, 1, H, W] and normalised map [2, 1, H, W].
  at::Tensor edit_mask() const override { return blend_mask_; }
  at::Tensor edit_map() const override { return blend_soft_; }

  // Every call is counted; maps the controller leaves alone (self-attention outside the window or
  // with too many queries, unless captured) stay on the plain kernel.
  bool wants(const models::AttentionSite& site, std::int64_t queries) override;
  at::Tensor on_probs(const models::AttentionSite& site, at::Tensor probs) override;

  // Debugging and parity: copies of the maps of (step, layer) before the controller (all rows)
  // and after it (the conditional rows), named "attn.step{S}.layer{LL}.before|after_cond".
  void capture(std::int64_t step, std::int64_t layer) { captures_.insert({step, layer}); }
  const std::map<std::string, at::Tensor>& captured() const { return captured_; }
  std::int64_t calls_in_step() const { return calls_; }  // attention modules run in the current step

 private:
  at::Tensor edit_cross(const at::Tensor& base, const at::Tensor& target) const;
  at::Tensor edit_base(const at::Tensor& base, const at::Tensor& target) const;

  ControllerSpec spec_;
  bool guided_ = true;
  std::int64_t step_ = 0, calls_ = 0;
  // LocalBlend's cross-attention maps (conditional rows) of this step, and summed over the steps so far.
  std::vector<at::Tensor> step_store_, store_;
  std::set<std::pair<std::int64_t, std::int64_t>> captures_;
  std::map<std::string, at::Tensor> captured_;
  at::Tensor blend_soft_, blend_mask_;
};

}  // namespace diffedit::editing::p2p
