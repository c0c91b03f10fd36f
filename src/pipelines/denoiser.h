// The denoiser as editing methods and samplers see it: eps (or v) = f(x_t, t, context), with
// classifier-free guidance (Ho & Salimans 2022) batching the two halves into one UNet call, and a
// count of denoiser evaluations (one per image per UNet evaluation; a guided pair counts 2), the
// hardware-independent cost measure of the benchmark.
#pragma once

#include <cstdint>
#include <functional>

#include "models/unet2d_condition.h"

namespace diffedit::pipelines {

// Classifier-free guidance: uncond + g (cond - uncond), the predictions of one latent under the
// unconditional and the conditional context.
inline at::Tensor classifier_free_guidance(const at::Tensor& uncond, const at::Tensor& cond, double guidance) {
  return uncond + (cond - uncond) * guidance;
}

class Denoiser {
 public:
  // An analytic predictor (tests, toy models): eps = f(latents [B, ...], timestep, context [B, L, D]).
  using Function = std::function<at::Tensor(const at::Tensor&, std::int64_t, const at::Tensor&)>;

  Denoiser() = default;
  Denoiser(models::UNet2DConditionModel unet, c10::ScalarType dtype) : unet_(std::move(unet)), dtype_(dtype) {}
  explicit Denoiser(Function function) : function_(std::move(function)) {}

  // Raw prediction for a batch [B, C, h, w] at one timestep with contexts [B, L, D]; returned in
  // the latents' dtype.
  at::Tensor predict(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context);
  // As predict, recording the graph (whatever the grad mode around it): differentiable in
  // `context` and `latents`, e.g. for null-text inversion's optimised embedding. Counted alike
  // (a backward pass is not an evaluation).
  at::Tensor predict_differentiable(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context);

  // uncond + g (cond - uncond) from one call on [latents; latents] with [uncond; cond]. With
  // g <= 1 or no uncond, only the conditional prediction is computed.
  at::Tensor guided(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& cond, const at::Tensor& uncond, double guidance);

  std::int64_t evaluations() const { return evaluations_; }
  const models::UNet2DConditionModel& unet() const { return unet_; }

 private:
  at::Tensor evaluate(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context);  // in the current grad mode

  models::UNet2DConditionModel unet_{nullptr};
  Function function_;
  c10::ScalarType dtype_ = c10::kFloat;
  std::int64_t evaluations_ = 0;
};

}  // namespace diffedit::pipelines
