#include "diffusion/scheduler_config.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>

#include "core/config_keys.h"
#include "core/errors.h"

namespace diffedit::diffusion {

namespace {

using config::Json;
using config::Schema;

// scheduler_config.json keys of diffusers schedulers that do not change DDIM/DDPM here.
const std::vector<std::string> kIgnoredKeys = {"_diffusers_version",
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

const config::EnumNames<BetaSchedule> kBetaSchedules = {{BetaSchedule::linear, "linear"},
                                                        {BetaSchedule::scaled_linear, "scaled_linear"},
                                                        {BetaSchedule::squaredcos_cap_v2, "squaredcos_cap_v2"}};
const config::EnumNames<PredictionType> kPredictionTypes = {
    {PredictionType::epsilon, "epsilon"}, {PredictionType::v_prediction, "v_prediction"}, {PredictionType::sample, "sample"}};
const config::EnumNames<TimestepSpacing> kSpacings = {
    {TimestepSpacing::leading, "leading"}, {TimestepSpacing::trailing, "trailing"}, {TimestepSpacing::linspace, "linspace"}};
const config::EnumNames<VarianceType> kVarianceTypes = {{VarianceType::fixed_small, "fixed_small"},
                                                        {VarianceType::fixed_small_log, "fixed_small_log"},
                                                        {VarianceType::fixed_large, "fixed_large"},
                                                        {VarianceType::fixed_large_log, "fixed_large_log"}};

// scheduler_config.json keys, each with the member it fills (core/config_keys.h).
const auto& scheduler_keys() {
  using C = SchedulerConfig;
  static const auto table = std::tuple{
      config::key("num_train_timesteps", &C::num_train_timesteps, Schema::integer().range(1, std::nullopt)),
      config::key("beta_start", &C::beta_start, Schema::number().range(0, 1)),
      config::key("beta_end", &C::beta_end, Schema::number().range(0, 1)),
      config::enum_key("beta_schedule", &C::beta_schedule, kBetaSchedules),
      config::key("trained_betas", &C::trained_betas, Schema::array(Schema::number()).nullable()),
      config::key("clip_sample", &C::clip_sample, Schema::boolean()),
      config::key("clip_sample_range", &C::clip_sample_range, Schema::number().range(0, std::nullopt)),
      config::key("thresholding", &C::thresholding, Schema::boolean()),
      config::key("dynamic_thresholding_ratio", &C::dynamic_thresholding_ratio, Schema::number().range(0, 1)),
      config::key("sample_max_value", &C::sample_max_value, Schema::number().range(1, std::nullopt)),
      config::key("set_alpha_to_one", &C::set_alpha_to_one, Schema::boolean()),
      config::key("steps_offset", &C::steps_offset, Schema::integer().range(0, std::nullopt)),
      config::enum_key("prediction_type", &C::prediction_type, kPredictionTypes),
      config::enum_key("timestep_spacing", &C::timestep_spacing, kSpacings),
      config::key("rescale_betas_zero_snr", &C::rescale_betas_zero_snr, Schema::boolean()),
      config::enum_key("variance_type", &C::variance_type, kVarianceTypes, Schema::string().nullable()),
      config::key("_class_name", &C::class_name, Schema::string()),
  };
  return table;
}

// With the keys of other diffusers schedulers, which do not change DDIM/DDPM here.
const Schema& scheduler_schema() {
  static const Schema schema = [] {
    std::vector<Schema::Field> ignored;
    for (const auto& key : kIgnoredKeys) ignored.push_back({key, Schema::any()});
    return config::object_schema(scheduler_keys(), std::move(ignored));
  }();
  return schema;
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
  const SchedulerConfig c = config::read_keys<SchedulerConfig>(scheduler_schema().validate(json, source), scheduler_keys(), source);
  if (c.trained_betas && static_cast<std::int64_t>(c.trained_betas->size()) != c.num_train_timesteps)
    throw ConfigError(source, "trained_betas has " + std::to_string(c.trained_betas->size()) + " values but num_train_timesteps is " +
                                  std::to_string(c.num_train_timesteps));
  return c;
}

SchedulerConfig SchedulerConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

std::string to_string(PredictionType type) { return config::enum_name(kPredictionTypes, type); }

Json SchedulerConfig::to_json() const {
  Json j = config::write_keys(*this, scheduler_keys());
  if (class_name.empty()) j.erase("_class_name");
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
