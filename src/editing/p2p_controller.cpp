#include "editing/p2p_controller.h"

#include <ATen/ATen.h>

#include <cstdio>

#include "core/errors.h"
#include "editing/p2p_words.h"

namespace diffedit::editing::p2p {

Geometry Geometry::for_latent(std::int64_t h, std::int64_t w) {
  return {.self_replace_max_queries = (h / 4) * (w / 4), .blend_h = h / 4, .blend_w = w / 4};
}

Controller::Controller(ControllerSpec spec) : spec_(std::move(spec)) {
  if (!spec_.cross_alpha.defined()) throw std::invalid_argument("p2p controller: cross_alpha is required");
  if (spec_.edit == CrossEdit::replace && !spec_.mapper.defined()) throw std::invalid_argument("p2p controller: replace needs a mapper");
  if (spec_.edit == CrossEdit::refine && (!spec_.refine_index.defined() || !spec_.refine_alphas.defined()))
    throw std::invalid_argument("p2p controller: refine needs its index and alphas");
  if (spec_.edit == CrossEdit::reweight && !spec_.equalizer.defined())
    throw std::invalid_argument("p2p controller: reweight needs an equalizer");
  if (spec_.refine_index.defined())  // Python's index -1 is the last key
    spec_.refine_index = at::where(spec_.refine_index < 0, spec_.refine_index + kMaxWords, spec_.refine_index);
}

void Controller::begin_step(std::int64_t step) {
  step_ = step;
  calls_ = 0;
  step_store_.clear();
  if (step_ >= spec_.cross_alpha.size(0))
    throw std::invalid_argument("p2p controller: step " + std::to_string(step) + " beyond its " +
                                std::to_string(spec_.cross_alpha.size(0) - 1) + " steps");
}

void Controller::end_step() {
  if (!spec_.blend_alpha.defined()) return;
  if (store_.empty()) {  // the first step's maps (the reference keeps views; copies are the same numbers)
    for (const auto& m : step_store_) store_.push_back(m.clone());
  } else {
    if (step_store_.size() != store_.size()) throw std::logic_error("p2p controller: the stored attention maps changed between steps");
    for (std::size_t i = 0; i < store_.size(); ++i) store_[i].add_(step_store_[i]);
  }
  step_store_.clear();
}

at::Tensor Controller::edit_base(const at::Tensor& base, const at::Tensor& target) const {
  // base [heads, q, 77] (source), target [1, heads, q, 77]; result [1, heads, q, 77].
  switch (spec_.edit) {
    case CrossEdit::replace: return at::matmul(base, spec_.mapper.to(base.device(), base.scalar_type())).unsqueeze(0);
    case CrossEdit::refine: {
      const at::Tensor alphas = spec_.refine_alphas.to(base.device(), base.scalar_type()).view({1, 1, 1, kMaxWords});
      const at::Tensor mapped = base.index_select(2, spec_.refine_index.to(base.device())).unsqueeze(0);
      return mapped * alphas + target * (1 - alphas);
    }
    case CrossEdit::reweight: break;
  }
  return base.unsqueeze(0);
}

at::Tensor Controller::edit_cross(const at::Tensor& base, const at::Tensor& target) const {
  at::Tensor out = edit_base(base, target);
  if (spec_.equalizer.defined()) out = out * spec_.equalizer.to(base.device(), base.scalar_type()).view({1, 1, 1, kMaxWords});
  return out;
}

bool Controller::wants(const models::AttentionSite& site, std::int64_t queries) {
  ++calls_;
  return site.is_cross || captures_.count({step_, site.index}) > 0 ||
         (step_ >= spec_.self_window.first && step_ < spec_.self_window.second && queries <= spec_.geometry.self_replace_max_queries);
}

at::Tensor Controller::on_probs(const models::AttentionSite& site, at::Tensor probs) {
  const bool capture = captures_.count({step_, site.index}) > 0;
  char name[64];
  std::snprintf(name, sizeof name, "attn.step%lld.layer%02lld", static_cast<long long>(step_), static_cast<long long>(site.index));
  if (capture) captured_[std::string(name) + ".before"] = probs.clone();

  const std::int64_t rows = probs.size(0);
  const at::Tensor cond = guided_ ? probs.narrow(0, rows / 2, rows / 2) : probs;
  if (cond.size(0) % 2 != 0) throw std::invalid_argument("p2p controller: expected a source and a target row");
  const std::int64_t heads = cond.size(0) / 2, queries = cond.size(1), keys = cond.size(2);
  const at::Tensor maps = cond.view({2, heads, queries, keys});
  const at::Tensor base = maps[0];
  at::Tensor target = maps.narrow(0, 1, 1);
  if (site.is_cross) {
    if (keys != kMaxWords)
      throw InputError(
          "p2p", "cross-attention over " + std::to_string(keys) + " text tokens; Prompt-to-Prompt needs " + std::to_string(kMaxWords));
    const at::Tensor alpha = spec_.cross_alpha[step_].to(probs.device(), probs.scalar_type()).view({1, 1, 1, kMaxWords});
    const at::Tensor edited = edit_cross(base, target) * alpha + (1 - alpha) * target;
    target.copy_(edited.reshape(target.sizes()));
    if (spec_.blend_alpha.defined() && site.place != models::UNetPlace::mid && queries == spec_.geometry.blend_h * spec_.geometry.blend_w)
      step_store_.push_back(cond);  // a view: it holds the edited map
  } else if (step_ >= spec_.self_window.first && step_ < spec_.self_window.second && queries <= spec_.geometry.self_replace_max_queries) {
    target.copy_(base.unsqueeze(0));
  }
  if (capture) captured_[std::string(name) + ".after_cond"] = cond.clone();
  return probs;
}

at::Tensor Controller::step_callback(const at::Tensor& latents) {
  if (!spec_.blend_alpha.defined()) return latents;
  const std::int64_t bh = spec_.geometry.blend_h, bw = spec_.geometry.blend_w;
  if (store_.empty())
    throw InputError("p2p: local_blend_words", "the UNet has no down- or up-block cross-attention at " + std::to_string(bh) + "x" +
                                                   std::to_string(bw) + " (a quarter of the latent) for LocalBlend");
  std::vector<at::Tensor> maps;
  for (const auto& m : store_) maps.push_back(m.reshape({2, -1, 1, bh, bw, kMaxWords}));
  const at::Tensor alpha = spec_.blend_alpha.to(latents.device()).view({2, 1, 1, 1, 1, kMaxWords});
  at::Tensor soft = (at::cat(maps, 1) * alpha).sum(-1).mean(1);  // [2, 1, bh, bw]
  soft = at::max_pool2d(soft, {3, 3}, {1, 1}, {1, 1});
  soft = at::upsample_nearest2d(soft, {latents.size(2), latents.size(3)});
  soft = soft / soft.amax({2, 3}, true);
  const at::Tensor over = soft.gt(spec_.blend_threshold);
  const at::Tensor mask = at::logical_or(over.narrow(0, 0, 1), over.narrow(0, 1, 1)).to(latents.scalar_type());
  blend_soft_ = soft;
  blend_mask_ = mask;
  const at::Tensor source = latents.narrow(0, 0, 1);
  return source + mask * (latents - source);
}

}  // namespace diffedit::editing::p2p
