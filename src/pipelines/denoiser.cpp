#include "pipelines/denoiser.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace diffedit::pipelines {

at::Tensor Denoiser::predict(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context) {
  torch::NoGradGuard no_grad;
  return evaluate(latents, timestep, context);
}

at::Tensor Denoiser::predict_differentiable(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context) {
  torch::AutoGradMode enable_grad(true);
  return evaluate(latents, timestep, context);
}

at::Tensor Denoiser::evaluate(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& context) {
  if (context.size(0) != latents.size(0))
    throw std::invalid_argument("denoiser: " + std::to_string(latents.size(0)) + " latents but " + std::to_string(context.size(0)) +
                                " contexts");
  const at::Tensor t = at::scalar_tensor(timestep, at::TensorOptions().dtype(at::kLong).device(latents.device()));
  evaluations_ += latents.size(0);
  const at::Tensor eps = function_ ? function_(latents, timestep, context)
                                   : unet_->forward(latents.to(dtype_), t, context.to(dtype_)).to(latents.scalar_type());
  if (!at::isfinite(eps).all().item<bool>())
    throw NumericError("denoiser", "non-finite prediction at timestep " + std::to_string(timestep));
  return eps;
}

at::Tensor Denoiser::guided(const at::Tensor& latents, std::int64_t timestep, const at::Tensor& cond, const at::Tensor& uncond,
                            double guidance) {
  if (guidance <= 1.0 || !uncond.defined()) return predict(latents, timestep, cond);
  const auto halves = predict(at::cat({latents, latents}), timestep, at::cat({uncond, cond})).chunk(2);
  return classifier_free_guidance(halves[0], halves[1], guidance);
}

}  // namespace diffedit::pipelines
