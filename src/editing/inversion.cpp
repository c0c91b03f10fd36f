#include "editing/inversion.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/optim/adam.h>

#include "diffusion/schedulers.h"
#include "pipelines/denoiser.h"

namespace diffedit::editing {

const config::EnumNames<InversionMethod>& inversion_method_names() {
  static const config::EnumNames<InversionMethod> names = {{InversionMethod::reference, "reference"},
                                                           {InversionMethod::unconditional, "unconditional"},
                                                           {InversionMethod::null_text, "null_text"},
                                                           {InversionMethod::negative_prompt, "negative_prompt"},
                                                           {InversionMethod::direct, "direct"}};
  return names;
}

namespace {

// z*_{t-1} of step k of `timesteps`: the pivot at the next level, the input's latent after the last.
const at::Tensor& step_target(const Inversion& pivot, const std::vector<std::int64_t>& timesteps, std::size_t k) {
  return k + 1 < timesteps.size() ? pivot.at_level(timesteps[k + 1]) : pivot.x0;
}

}  // namespace

NullTextEmbeddings null_text_optimization(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler,
                                          const Inversion& pivot, const std::vector<std::int64_t>& timesteps,
                                          std::int64_t num_inference_steps, const at::Tensor& cond, const at::Tensor& uncond,
                                          double guidance, const NullTextOptions& o) {
  const auto K = static_cast<std::int64_t>(timesteps.size());
  NullTextEmbeddings out;
  if (K == 0 || guidance <= 1.0 || o.inner_steps == 0) {
    out.embeddings = uncond.expand({K, uncond.size(1), uncond.size(2)}).contiguous();
    return out;
  }
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(num_inference_steps);
  // The reference indexes the learning rate and the early-stop bound by the step's place in the
  // full schedule; a truncated one (r < 1) keeps those of its levels.
  const std::int64_t first_index = num_inference_steps - K;
  // Optimised in float32 whatever the model's dtype (Adam's moments on half-precision values lose
  // the small steps); the denoiser casts the context.
  at::Tensor embedding = uncond.to(at::kFloat).detach().clone();
  at::Tensor x = pivot.at_level(timesteps.front());
  std::vector<at::Tensor> embeddings;
  for (std::int64_t k = 0; k < K; ++k) {
    const std::int64_t t = timesteps[static_cast<std::size_t>(k)];
    const auto i = static_cast<double>(first_index + k);
    const at::Tensor& target = step_target(pivot, timesteps, static_cast<std::size_t>(k));
    const at::Tensor eps_cond = denoiser.predict(x, t, cond);
    // A copy: Adam updates in place, and the previous step's embedding is kept.
    embedding = embedding.detach().clone().requires_grad_(true);
    torch::optim::Adam adam({embedding}, torch::optim::AdamOptions(1e-2 * (1.0 - i / 100.0)));
    double loss_value = 0.0;
    for (std::int64_t j = 0; j < o.inner_steps; ++j) {
      torch::AutoGradMode enable_grad(true);
      const at::Tensor eps = pipelines::classifier_free_guidance(denoiser.predict_differentiable(x, t, embedding), eps_cond, guidance);
      const at::Tensor loss = at::mse_loss(ddim.step(eps, t, x).prev_sample, target);
      // Only the embedding's gradient: the UNet's weights may require grad too, and stay untouched.
      embedding.mutable_grad() = torch::autograd::grad({loss}, {embedding})[0];
      adam.step();
      ++out.adam_steps;
      loss_value = loss.item<double>();  // the loss before this step's update, as the reference tests it
      if (loss_value < o.early_stop_epsilon + i * 2e-5) break;
    }
    out.final_loss.push_back(loss_value);
    embedding = embedding.detach();
    embeddings.push_back(embedding.to(uncond.scalar_type()));
    // The step taken with the optimised embedding: the reference's batch [uncond; cond] again,
    // the conditional half being eps_cond (same latent, same text).
    torch::NoGradGuard no_grad;
    x = ddim.step(pipelines::classifier_free_guidance(denoiser.predict(x, t, embeddings.back()), eps_cond, guidance), t, x).prev_sample;
  }
  out.embeddings = at::cat(embeddings);
  return out;
}

std::vector<at::Tensor> direct_inversion_targets(const Inversion& pivot, const std::vector<std::int64_t>& timesteps) {
  std::vector<at::Tensor> out;
  for (std::size_t k = 0; k < timesteps.size(); ++k) out.push_back(step_target(pivot, timesteps, k));
  return out;
}

}  // namespace diffedit::editing
