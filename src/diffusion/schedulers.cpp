#include "diffusion/schedulers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace diffedit::diffusion {

namespace {

void check_timestep(std::int64_t t, const SchedulerConfig& c) {
  if (t < 0 || t >= c.num_train_timesteps)
    throw InputError("timestep", std::to_string(t) + " is outside [0, " + std::to_string(c.num_train_timesteps) + ")");
}

void require_timesteps(std::int64_t n) {
  if (n == 0) throw std::logic_error("set_timesteps must be called before step");
}

// a_t[timesteps] reshaped to broadcast over `like` (batch first), in `like`'s dtype.
at::Tensor per_sample(const NoiseSchedule& s, const std::vector<std::int64_t>& timesteps, const at::Tensor& like, bool one_minus) {
  const at::Tensor alphas = s.alphas_cumprod.to(like.device(), like.scalar_type());
  const at::Tensor index = at::tensor(timesteps, at::TensorOptions().dtype(at::kLong)).to(like.device());
  at::Tensor a = alphas.index_select(0, index);
  a = one_minus ? (1 - a).pow(0.5) : a.pow(0.5);
  a = a.flatten();
  while (a.dim() < like.dim()) a = a.unsqueeze(-1);
  return a;
}

at::Tensor add_noise_impl(const SchedulerConfig& c, const NoiseSchedule& s, const at::Tensor& original, const at::Tensor& noise,
                          const std::vector<std::int64_t>& timesteps) {
  for (auto t : timesteps) check_timestep(t, c);
  if (static_cast<std::int64_t>(timesteps.size()) != original.size(0) && timesteps.size() != 1)
    throw InputError("timesteps", "add_noise needs one timestep per batch element or one for all");
  const at::Tensor sqrt_alpha = per_sample(s, timesteps, original, false);
  const at::Tensor sqrt_one_minus = per_sample(s, timesteps, original, true);
  return sqrt_alpha * original + sqrt_one_minus * noise;
}

}  // namespace

at::Tensor dynamic_threshold(const at::Tensor& x0, double ratio, double sample_max_value) {
  const at::Tensor flat = x0.to(at::kFloat).reshape({x0.size(0), -1});
  const at::Tensor s = at::quantile(flat.abs(), ratio, 1, /*keepdim=*/true).clamp(1.0, sample_max_value);
  return (flat.clamp(-s, s) / s).reshape(x0.sizes()).to(x0.scalar_type());
}

Prediction predict(const SchedulerConfig& c, const at::Tensor& model_output, const at::Tensor& sample, float alpha_prod_t,
                   bool thresholding_allowed) {
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const double sqrt_alpha = std::sqrt(alpha_prod_t), sqrt_beta = std::sqrt(beta_prod_t);
  Prediction p;
  switch (c.prediction_type) {
    case PredictionType::epsilon:
      p.x0 = (sample - model_output * sqrt_beta) / sqrt_alpha;
      p.eps = model_output;
      break;
    case PredictionType::sample:
      p.x0 = model_output;
      p.eps = (sample - p.x0 * sqrt_alpha) / sqrt_beta;
      break;
    case PredictionType::v_prediction:
      p.x0 = sample * sqrt_alpha - model_output * sqrt_beta;
      p.eps = model_output * sqrt_alpha + sample * sqrt_beta;
      break;
  }
  if (c.thresholding && thresholding_allowed)
    p.x0 = dynamic_threshold(p.x0, c.dynamic_thresholding_ratio, c.sample_max_value);
  else if (c.clip_sample)
    p.x0 = p.x0.clamp(-c.clip_sample_range, c.clip_sample_range);
  return p;
}

// ---------------------------------------------------------------------------------------------
// DDIM

DDIMScheduler::DDIMScheduler(SchedulerConfig config)
    : config_(std::move(config)), schedule_(config_), final_alpha_cumprod_(config_.set_alpha_to_one ? 1.0f : schedule_.alpha_bar(0)) {}

void DDIMScheduler::set_timesteps(std::int64_t n) {
  timesteps_ = inference_timesteps(config_, n);
  num_inference_steps_ = n;
}

StepOutput DDIMScheduler::step(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& sample, double eta,
                               const std::optional<at::Tensor>& variance_noise, bool use_clipped_model_output) const {
  require_timesteps(num_inference_steps_);
  check_timestep(timestep, config_);
  const std::int64_t prev_t = timestep - config_.num_train_timesteps / num_inference_steps_;
  const float alpha_prod_t = schedule_.alpha_bar(timestep);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_bar(prev_t) : final_alpha_cumprod_;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;

  Prediction p = predict(config_, model_output, sample, alpha_prod_t);
  // sigma_t^2 = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)   (eq. 16 of the DDIM paper)
  const float variance = (beta_prod_t_prev / beta_prod_t) * (1.0f - alpha_prod_t / alpha_prod_t_prev);
  const float std_dev_t = static_cast<float>(eta) * std::sqrt(variance);
  if (use_clipped_model_output)
    p.eps = (sample - p.x0 * std::sqrt(static_cast<double>(alpha_prod_t))) / std::sqrt(static_cast<double>(beta_prod_t));

  const float direction_scale = std::sqrt(1.0f - alpha_prod_t_prev - std_dev_t * std_dev_t);
  const at::Tensor direction = p.eps * static_cast<double>(direction_scale);
  at::Tensor prev = p.x0 * static_cast<double>(std::sqrt(alpha_prod_t_prev)) + direction;
  if (eta > 0) {
    if (!variance_noise) throw InputError("variance_noise", "DDIM with eta > 0 needs variance noise");
    prev = prev + *variance_noise * static_cast<double>(std_dev_t);
  }
  return {prev, p.x0};
}

at::Tensor DDIMScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, const std::vector<std::int64_t>& timesteps) const {
  return add_noise_impl(config_, schedule_, original, noise, timesteps);
}

// ---------------------------------------------------------------------------------------------
// DDIM inversion

DDIMInverseScheduler::DDIMInverseScheduler(SchedulerConfig config)
    : config_(std::move(config)), schedule_(config_), initial_alpha_cumprod_(config_.set_alpha_to_one ? 1.0f : schedule_.alpha_bar(0)) {}

void DDIMInverseScheduler::set_timesteps(std::int64_t n) {
  timesteps_ = inverse_inference_timesteps(config_, n);
  num_inference_steps_ = n;
}

StepOutput DDIMInverseScheduler::step(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& sample) const {
  require_timesteps(num_inference_steps_);
  check_timestep(timestep, config_);
  const std::int64_t current = std::min(timestep - config_.num_train_timesteps / num_inference_steps_, config_.num_train_timesteps - 1);
  const float alpha_prod_t = current >= 0 ? schedule_.alpha_bar(current) : initial_alpha_cumprod_;
  const float alpha_prod_t_next = schedule_.alpha_bar(timestep);
  const Prediction p = predict(config_, model_output, sample, alpha_prod_t, /*thresholding_allowed=*/false);
  const at::Tensor direction = p.eps * static_cast<double>(std::sqrt(1.0f - alpha_prod_t_next));
  const at::Tensor next = p.x0 * static_cast<double>(std::sqrt(alpha_prod_t_next)) + direction;
  return {next, p.x0};
}

// ---------------------------------------------------------------------------------------------
// DDPM

DDPMScheduler::DDPMScheduler(SchedulerConfig config) : config_(std::move(config)), schedule_(config_) {
  for (std::int64_t t = config_.num_train_timesteps - 1; t >= 0; --t) timesteps_.push_back(t);
}

void DDPMScheduler::set_timesteps(std::int64_t n) {
  timesteps_ = inference_timesteps(config_, n);
  num_inference_steps_ = n;
}

std::int64_t DDPMScheduler::previous_timestep(std::int64_t t) const {
  return num_inference_steps_ ? t - config_.num_train_timesteps / *num_inference_steps_ : t - 1;
}

float DDPMScheduler::variance(std::int64_t t) const {
  check_timestep(t, config_);
  const std::int64_t prev_t = previous_timestep(t);
  const float alpha_prod_t = schedule_.alpha_bar(t);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_bar(prev_t) : 1.0f;
  const float current_beta_t = 1.0f - alpha_prod_t / alpha_prod_t_prev;
  // beta~_t = (1 - a_{t-1}) / (1 - a_t) * beta_t   (eq. 7 of the DDPM paper)
  float v = std::max((1.0f - alpha_prod_t_prev) / (1.0f - alpha_prod_t) * current_beta_t, 1e-20f);
  switch (config_.variance_type) {
    case VarianceType::fixed_small: return v;
    case VarianceType::fixed_small_log: return std::exp(0.5f * std::log(v));
    case VarianceType::fixed_large: return current_beta_t;
    case VarianceType::fixed_large_log: return std::log(current_beta_t);
  }
  return v;
}

StepOutput DDPMScheduler::step(const at::Tensor& model_output, std::int64_t t, const at::Tensor& sample,
                               const std::optional<at::Tensor>& variance_noise) const {
  check_timestep(t, config_);
  const std::int64_t prev_t = previous_timestep(t);
  const float alpha_prod_t = schedule_.alpha_bar(t);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_bar(prev_t) : 1.0f;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  const float current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  const float current_beta_t = 1.0f - current_alpha_t;

  const Prediction p = predict(config_, model_output, sample, alpha_prod_t);
  // Posterior mean mu~_t(x_t, x_0)   (eq. 7 of the DDPM paper)
  const float x0_coeff = std::sqrt(alpha_prod_t_prev) * current_beta_t / beta_prod_t;
  const float xt_coeff = std::sqrt(current_alpha_t) * beta_prod_t_prev / beta_prod_t;
  at::Tensor prev = p.x0 * static_cast<double>(x0_coeff) + sample * static_cast<double>(xt_coeff);
  if (t > 0) {
    if (!variance_noise) throw InputError("variance_noise", "a DDPM step with t > 0 needs variance noise");
    const float v = variance(t);
    const float scale = config_.variance_type == VarianceType::fixed_small_log   ? v
                        : config_.variance_type == VarianceType::fixed_large_log ? std::exp(0.5f * v)
                                                                                 : std::sqrt(v);
    prev = prev + *variance_noise * static_cast<double>(scale);
  }
  return {prev, p.x0};
}

at::Tensor DDPMScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, const std::vector<std::int64_t>& timesteps) const {
  return add_noise_impl(config_, schedule_, original, noise, timesteps);
}

// ---------------------------------------------------------------------------------------------

std::int64_t truncated_steps(std::int64_t n, double strength) {
  if (!(strength >= 0.0 && strength <= 1.0)) throw InputError("strength", std::to_string(strength) + " is outside [0, 1]");
  return std::min(static_cast<std::int64_t>(static_cast<double>(n) * strength), n);  // int() truncates
}

TruncatedTimesteps truncate_timesteps(const std::vector<std::int64_t>& descending, double strength) {
  const auto n = static_cast<std::int64_t>(descending.size());
  const std::int64_t start = std::max<std::int64_t>(n - truncated_steps(n, strength), 0);
  TruncatedTimesteps out;
  out.denoise.assign(descending.begin() + start, descending.end());
  out.invert.assign(descending.rbegin(), descending.rend() - start);
  return out;
}

TruncatedTimesteps truncated_schedule(const SchedulerConfig& config, std::int64_t steps, double strength) {
  DDIMScheduler ddim(config);
  ddim.set_timesteps(steps);
  return truncate_timesteps(ddim.timesteps(), strength);
}

}  // namespace diffedit::diffusion
