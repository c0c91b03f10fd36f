#include "diffusion/scheduler_config.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>

#include "core/errors.h"

namespace diffedit::diffusion {

namespace {

using config::Json;
using config::Schema;

// scheduler_config.json keys of diffusers schedulers that do not change DDIM/DDPM here.
const std::vector<std::string> kIgnoredKeys = {"_class_name",
                                               "_diffusers_version",
                                               "skip_prk_steps",
                                               "use_karras_sigmas",
                                               "use_exponential_sigmas",
                                               "use_beta_sigmas",
                                               "interpolation_type",
                                               "timestep_type",
                                               "algorithm_type",
                                               "solver_order",
                                               "solver_type",
                                               "lower_order_final",
                                               "euler_at_final",
                                               "final_sigmas_type",
                                               "lambda_min_clipped",
                                               "use_lu_lambdas",
                                               "sigma_min",
                                               "sigma_max",
                                               "predict_x0",
                                               "solver_p",
                                               "disable_corrector",
                                               "use_dynamic_shifting",
                                               "shift"};

Schema scheduler_schema() {
  std::vector<Schema::Field> fields = {
      {"num_train_timesteps", Schema::integer().range(1, std::nullopt)},
      {"beta_start", Schema::number().range(0, 1)},
      {"beta_end", Schema::number().range(0, 1)},
      {"beta_schedule", Schema::string().choices({"linear", "scaled_linear", "squaredcos_cap_v2"})},
      {"trained_betas", Schema::array(Schema::number()).nullable()},
      {"clip_sample", Schema::boolean()},
      {"clip_sample_range", Schema::number().range(0, std::nullopt)},
      {"set_alpha_to_one", Schema::boolean()},
      {"steps_offset", Schema::integer().range(0, std::nullopt)},
      {"prediction_type", Schema::string().choices({"epsilon", "v_prediction", "sample"})},
      {"timestep_spacing", Schema::string().choices({"leading", "trailing", "linspace"})},
      {"rescale_betas_zero_snr", Schema::boolean()},
      {"thresholding", Schema::boolean()},
      {"dynamic_thresholding_ratio", Schema::number().range(0, 1)},
      {"sample_max_value", Schema::number().range(1, std::nullopt)},
      {"variance_type", Schema::string().nullable()},
  };
  for (const auto& key : kIgnoredKeys) fields.push_back({key, Schema::any()});
  return Schema::object(std::move(fields));
}

template <typename E>
E pick(const std::string& value, std::initializer_list<std::pair<const char*, E>> options) {
  for (const auto& [name, e] : options)
    if (value == name) return e;
  throw std::logic_error("schema allowed an unknown choice " + value);
}

// Python's betas_for_alpha_bar(..., "cosine") in double precision, then float32.
at::Tensor cosine_betas(std::int64_t n) {
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2);
    return c * c;
  };
  std::vector<float> betas;
  for (std::int64_t i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(n);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(n);
    betas.push_back(static_cast<float>(std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), 0.999)));
  }
  return at::tensor(betas, at::kFloat);
}

// diffusers' rescale_zero_terminal_snr (Lin et al. 2023, Algorithm 1), in float32.
at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas) {
  const at::Tensor alphas = 1.0 - betas;
  at::Tensor sqrt_bar = at::cumprod(alphas, 0).sqrt();
  const at::Tensor first = sqrt_bar[0].clone();
  const at::Tensor last = sqrt_bar[-1].clone();
  sqrt_bar = sqrt_bar - last;
  sqrt_bar = sqrt_bar * first / (first - last);
  const at::Tensor bar = sqrt_bar.pow(2);
  const at::Tensor rescaled = at::cat({bar.slice(0, 0, 1), bar.slice(0, 1) / bar.slice(0, 0, -1)});
  return 1 - rescaled;
}

// numpy's np.round: round half to even.
std::int64_t round_half_even(double x) { return static_cast<std::int64_t>(std::nearbyint(x)); }

}  // namespace

SchedulerConfig SchedulerConfig::from_json(const Json& json, const std::string& source) {
  const Json j = scheduler_schema().validate(json, source);
  SchedulerConfig c;
  auto get = [&](const char* key, auto& out) {
    if (j.contains(key) && !j[key].is_null()) out = j[key].get<std::decay_t<decltype(out)>>();
  };
  get("num_train_timesteps", c.num_train_timesteps);
  get("beta_start", c.beta_start);
  get("beta_end", c.beta_end);
  get("clip_sample", c.clip_sample);
  get("clip_sample_range", c.clip_sample_range);
  get("set_alpha_to_one", c.set_alpha_to_one);
  get("steps_offset", c.steps_offset);
  get("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  get("_class_name", c.class_name);
  if (j.contains("beta_schedule"))
    c.beta_schedule = pick<BetaSchedule>(j["beta_schedule"], {{"linear", BetaSchedule::linear},
                                                              {"scaled_linear", BetaSchedule::scaled_linear},
                                                              {"squaredcos_cap_v2", BetaSchedule::squaredcos_cap_v2}});
  if (j.contains("prediction_type"))
    c.prediction_type = pick<PredictionType>(
        j["prediction_type"],
        {{"epsilon", PredictionType::epsilon}, {"v_prediction", PredictionType::v_prediction}, {"sample", PredictionType::sample}});
  if (j.contains("timestep_spacing"))
    c.timestep_spacing = pick<TimestepSpacing>(
        j["timestep_spacing"],
        {{"leading", TimestepSpacing::leading}, {"trailing", TimestepSpacing::trailing}, {"linspace", TimestepSpacing::linspace}});
  if (j.contains("trained_betas") && j["trained_betas"].is_array()) {
    c.trained_betas = j["trained_betas"].get<std::vector<double>>();
    if (static_cast<std::int64_t>(c.trained_betas->size()) != c.num_train_timesteps)
      throw ConfigError(source, "trained_betas has " + std::to_string(c.trained_betas->size()) + " values but num_train_timesteps is " +
                                    std::to_string(c.num_train_timesteps));
  }
  get("thresholding", c.thresholding);
  get("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  get("sample_max_value", c.sample_max_value);
  if (j.contains("variance_type") && j["variance_type"].is_string()) {
    const std::string v = j["variance_type"];
    if (v == "fixed_small")
      c.variance_type = VarianceType::fixed_small;
    else if (v == "fixed_small_log")
      c.variance_type = VarianceType::fixed_small_log;
    else if (v == "fixed_large")
      c.variance_type = VarianceType::fixed_large;
    else if (v == "fixed_large_log")
      c.variance_type = VarianceType::fixed_large_log;
    else
      throw ConfigError(source, "variance_type '" + v + "' is not supported (fixed_small, fixed_small_log, fixed_large, fixed_large_log)");
  }
  return c;
}

SchedulerConfig SchedulerConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

std::string to_string(PredictionType type) {
  switch (type) {
    case PredictionType::epsilon: return "epsilon";
    case PredictionType::v_prediction: return "v_prediction";
    case PredictionType::sample: return "sample";
  }
  return "?";
}

Json SchedulerConfig::to_json() const {
  const char* schedules[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
  const char* spacings[] = {"leading", "trailing", "linspace"};
  Json j = {{"num_train_timesteps", num_train_timesteps},
            {"beta_start", beta_start},
            {"beta_end", beta_end},
            {"beta_schedule", schedules[static_cast<int>(beta_schedule)]},
            {"trained_betas", trained_betas ? Json(*trained_betas) : Json(nullptr)},
            {"clip_sample", clip_sample},
            {"clip_sample_range", clip_sample_range},
            {"set_alpha_to_one", set_alpha_to_one},
            {"steps_offset", steps_offset},
            {"prediction_type", to_string(prediction_type)},
            {"timestep_spacing", spacings[static_cast<int>(timestep_spacing)]},
            {"rescale_betas_zero_snr", rescale_betas_zero_snr},
            {"thresholding", thresholding},
            {"dynamic_thresholding_ratio", dynamic_thresholding_ratio},
            {"sample_max_value", sample_max_value}};
  if (!class_name.empty()) j["_class_name"] = class_name;
  return j;
}

NoiseSchedule::NoiseSchedule(const SchedulerConfig& c) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  if (c.trained_betas) {
    std::vector<float> values(c.trained_betas->begin(), c.trained_betas->end());
    betas = at::tensor(values, f32);
  } else if (c.beta_schedule == BetaSchedule::linear) {
    betas = at::linspace(c.beta_start, c.beta_end, c.num_train_timesteps, f32);
  } else if (c.beta_schedule == BetaSchedule::scaled_linear) {
    // The latent diffusion schedule: linear in sqrt(beta), endpoints in double, steps in float32.
    betas = at::linspace(std::sqrt(c.beta_start), std::sqrt(c.beta_end), c.num_train_timesteps, f32).pow(2);
  } else {
    betas = cosine_betas(c.num_train_timesteps);
  }
  if (c.rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  alphas_cumprod = at::cumprod(1.0 - betas, 0);
}

float NoiseSchedule::alpha_bar(std::int64_t t) const { return alphas_cumprod.data_ptr<float>()[t]; }

std::vector<std::int64_t> inference_timesteps(const SchedulerConfig& c, std::int64_t n) {
  if (n < 1 || n > c.num_train_timesteps)
    throw InputError("num_inference_steps",
                     std::to_string(n) + " must be between 1 and num_train_timesteps (" + std::to_string(c.num_train_timesteps) + ")");
  std::vector<std::int64_t> t;
  const std::int64_t N = c.num_train_timesteps;
  switch (c.timestep_spacing) {
    case TimestepSpacing::linspace: {
      // np.linspace(0, N - 1, n).round()[::-1]: values i * step, the last one exactly N - 1.
      const double step = n == 1 ? 0.0 : static_cast<double>(N - 1) / static_cast<double>(n - 1);
      for (std::int64_t i = n - 1; i >= 0; --i)
        t.push_back(round_half_even(i == n - 1 && n > 1 ? static_cast<double>(N - 1) : static_cast<double>(i) * step));
      break;
    }
    case TimestepSpacing::leading: {
      const std::int64_t ratio = N / n;
      for (std::int64_t i = n - 1; i >= 0; --i) t.push_back(i * ratio + c.steps_offset);
      break;
    }
    case TimestepSpacing::trailing: {
      // np.round(np.arange(N, 0, -N / n)) - 1
      const double ratio = static_cast<double>(N) / static_cast<double>(n);
      const auto count = static_cast<std::int64_t>(std::ceil((0.0 - static_cast<double>(N)) / -ratio));
      for (std::int64_t i = 0; i < count; ++i) t.push_back(round_half_even(static_cast<double>(N) - static_cast<double>(i) * ratio) - 1);
      break;
    }
  }
  return t;
}

std::vector<std::int64_t> inverse_inference_timesteps(const SchedulerConfig& c, std::int64_t n) {
  if (c.timestep_spacing == TimestepSpacing::linspace)
    throw ConfigError("timestep_spacing", "'linspace' is not supported by the DDIM inverse scheduler (use leading or trailing)");
  std::vector<std::int64_t> t = inference_timesteps(c, n);
  std::reverse(t.begin(), t.end());
  return t;
}

}  // namespace diffedit::diffusion
