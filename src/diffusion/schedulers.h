// Samplers over a NoiseSchedule, as small value-like objects (copyable, no hidden state beyond
// the chosen timesteps): DDIM (Song et al. 2021) with eta, its inversion as diffusers'
// DDIMInverseScheduler defines it, and DDPM ancestral sampling (Ho et al. 2020).
//
// Scalar coefficients are float32 and every tensor operation happens in the same order as in
// diffusers 0.31, so results agree with the reference to the last bit on CPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "diffusion/scheduler_config.h"

namespace diffedit::diffusion {

struct StepOutput {
  at::Tensor prev_sample;           // x at the next level of the walk
  at::Tensor pred_original_sample;  // the model's estimate of x_0
};

// x_0 and epsilon from a model output under the configured prediction type, then bounded — the
// part every sampler shares: dynamic thresholding where configured and `thresholding_allowed`
// (the inverse scheduler passes false), else clip_sample.
struct Prediction {
  at::Tensor x0;
  at::Tensor eps;
};
Prediction predict(const SchedulerConfig& config, const at::Tensor& model_output, const at::Tensor& sample, float alpha_prod_t,
                   bool thresholding_allowed = true);
// diffusers' _threshold_sample: per batch element, s = quantile(|x0|, ratio) clamped to
// [1, sample_max_value], then clamp(x0, -s, s) / s (computed in float32).
at::Tensor dynamic_threshold(const at::Tensor& x0, double ratio, double sample_max_value);

class DDIMScheduler {
 public:
  explicit DDIMScheduler(SchedulerConfig config);

  void set_timesteps(std::int64_t num_inference_steps);
  const std::vector<std::int64_t>& timesteps() const { return timesteps_; }
  std::int64_t num_inference_steps() const { return num_inference_steps_; }
  const SchedulerConfig& config() const { return config_; }
  const NoiseSchedule& schedule() const { return schedule_; }
  float final_alpha_cumprod() const { return final_alpha_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }

  // One reverse step from `timestep` to `timestep - N / n`. With eta > 0, `variance_noise` is
  // required (drawn by the caller, so the caller controls the generator).
  StepOutput step(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& sample, double eta = 0.0,
                  const std::optional<at::Tensor>& variance_noise = std::nullopt, bool use_clipped_model_output = false) const;

  // sqrt(a_t) x_0 + sqrt(1 - a_t) noise, per batch element's timestep.
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, const std::vector<std::int64_t>& timesteps) const;

 private:
  SchedulerConfig config_;
  NoiseSchedule schedule_;
  float final_alpha_cumprod_;
  std::int64_t num_inference_steps_ = 0;
  std::vector<std::int64_t> timesteps_;
};

class DDIMInverseScheduler {
 public:
  explicit DDIMInverseScheduler(SchedulerConfig config);

  void set_timesteps(std::int64_t num_inference_steps);
  const std::vector<std::int64_t>& timesteps() const { return timesteps_; }  // ascending
  const SchedulerConfig& config() const { return config_; }
  float initial_alpha_cumprod() const { return initial_alpha_cumprod_; }

  // One inversion step *to* level `timestep` from level `timestep - N / n` (the model is
  // evaluated at the target `timestep`, as diffusers does).
  StepOutput step(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& sample) const;

 private:
  SchedulerConfig config_;
  NoiseSchedule schedule_;
  float initial_alpha_cumprod_;
  std::int64_t num_inference_steps_ = 0;
  std::vector<std::int64_t> timesteps_;
};

class DDPMScheduler {
 public:
  explicit DDPMScheduler(SchedulerConfig config);

  // Without a call, every training timestep is used (N, N-1, ..., 0 for sampling).
  void set_timesteps(std::int64_t num_inference_steps);
  const std::vector<std::int64_t>& timesteps() const { return timesteps_; }
  const SchedulerConfig& config() const { return config_; }

  // Posterior variance of the step from `timestep` (after the variance_type rule).
  float variance(std::int64_t timestep) const;
  // Ancestral step; `variance_noise` is required when timestep > 0.
  StepOutput step(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& sample,
                  const std::optional<at::Tensor>& variance_noise) const;
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, const std::vector<std::int64_t>& timesteps) const;

 private:
  std::int64_t previous_timestep(std::int64_t t) const;

  SchedulerConfig config_;
  NoiseSchedule schedule_;
  std::optional<std::int64_t> num_inference_steps_;
  std::vector<std::int64_t> timesteps_;
};

// DiffEdit's truncation of a schedule to strength s (diffusers' get_timesteps /
// get_inverse_timesteps): the last int(n * s) steps of the descending schedule, and the matching
// first steps of the ascending inverse schedule.
struct TruncatedTimesteps {
  std::vector<std::int64_t> denoise;  // descending, starts at the noisiest level
  std::vector<std::int64_t> invert;   // ascending, ends at the noisiest level
};
TruncatedTimesteps truncate_timesteps(const std::vector<std::int64_t>& descending, double strength);
// The DDIM schedule of `steps` inference steps under `config`, truncated to strength s.
TruncatedTimesteps truncated_schedule(const SchedulerConfig& config, std::int64_t steps, double strength);
// How many steps of an n-step schedule strength s keeps: min(int(n * s), n) (InputError outside [0, 1]).
std::int64_t truncated_steps(std::int64_t n, double strength);

}  // namespace diffedit::diffusion
