// The noise schedule of a diffusion model, read from a diffusers `scheduler_config.json`.
// Every quantity is computed in float32 in the same order as the reference, so the schedulers
// built on it match the reference bit for bit.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::diffusion {

enum class BetaSchedule { linear, scaled_linear, squaredcos_cap_v2 };
enum class PredictionType { epsilon, v_prediction, sample };
enum class TimestepSpacing { leading, trailing, linspace };
enum class VarianceType { fixed_small, fixed_small_log, fixed_large, fixed_large_log };

struct SchedulerConfig {
  std::int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::linear;
  std::optional<std::vector<double>> trained_betas;
  bool clip_sample = true;  // diffusers' DDIM default; SD configs set false
  double clip_sample_range = 1.0;
  // Dynamic thresholding (Saharia et al. 2022, Imagen; diffusers' `thresholding`): x0 is clipped to
  // [-s, s] and divided by s, s the `dynamic_thresholding_ratio` quantile of |x0| per sample,
  // bounded to [1, sample_max_value]. For pixel-space models at high guidance; it replaces
  // clip_sample where set (DDIM and DDPM steps; the inverse scheduler only clips, as diffusers').
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  bool set_alpha_to_one = true;
  std::int64_t steps_offset = 0;
  PredictionType prediction_type = PredictionType::epsilon;
  TimestepSpacing timestep_spacing = TimestepSpacing::leading;
  bool rescale_betas_zero_snr = false;
  VarianceType variance_type = VarianceType::fixed_small;  // DDPM only
  std::string class_name;                                  // "_class_name" as written (informational)

  // Reads a scheduler_config.json object. Keys that other diffusers schedulers use are accepted
  // and ignored; unknown keys and wrong types are errors.
  static SchedulerConfig from_json(const config::Json& json, const std::string& source);
  static SchedulerConfig load(const std::filesystem::path& path);
  config::Json to_json() const;
};

// betas and their cumulative products, float32, length num_train_timesteps.
struct NoiseSchedule {
  at::Tensor betas;
  at::Tensor alphas_cumprod;

  explicit NoiseSchedule(const SchedulerConfig& config);
  // alphas_cumprod[t] as a float (0 <= t < num_train_timesteps).
  float alpha_bar(std::int64_t t) const;
  std::int64_t size() const { return alphas_cumprod.size(0); }
};

// Inference timesteps in descending order, as diffusers' DDIM/DDPM `set_timesteps`.
std::vector<std::int64_t> inference_timesteps(const SchedulerConfig& config, std::int64_t num_inference_steps);
// Ascending timesteps of the DDIM inverse scheduler (leading or trailing spacing).
std::vector<std::int64_t> inverse_inference_timesteps(const SchedulerConfig& config, std::int64_t num_inference_steps);

std::string to_string(PredictionType type);

}  // namespace diffedit::diffusion
