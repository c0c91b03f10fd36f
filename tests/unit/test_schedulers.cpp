// Scheduler behaviour beyond the fixture: spacings, beta schedules, prediction types, DDPM, and
// the exact invertibility of DDIM under a fixed noise prediction.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "diffusion/schedulers.h"

namespace dd = diffedit::diffusion;
using diffedit::config::Json;

namespace {
dd::SchedulerConfig sd_config() {
  return dd::SchedulerConfig::from_json({{"_class_name", "PNDMScheduler"},
                                         {"beta_start", 0.00085},
                                         {"beta_end", 0.012},
                                         {"beta_schedule", "scaled_linear"},
                                         {"clip_sample", false},
                                         {"set_alpha_to_one", false},
                                         {"skip_prk_steps", true},
                                         {"steps_offset", 1},
                                         {"num_train_timesteps", 1000},
                                         {"trained_betas", nullptr}},
                                        "sd15/scheduler_config.json");
}
}  // namespace

TEST(Schedulers, ConfigAcceptsOtherSchedulersKeysButNotUnknownOnes) {
  EXPECT_EQ(sd_config().class_name, "PNDMScheduler");
  try {
    dd::SchedulerConfig::from_json({{"beta_shedule", "linear"}}, "s.json");
    FAIL();
  } catch (const diffedit::ConfigError& e) {
    EXPECT_EQ(e.problem().rfind("unknown key 'beta_shedule' (did you mean 'beta_schedule'?)", 0), 0u) << e.problem();
  }
  EXPECT_THROW(dd::SchedulerConfig::from_json({{"sample_max_value", 0.5}}, "s.json"), diffedit::ConfigError);
  EXPECT_THROW(dd::SchedulerConfig::from_json({{"prediction_type", "x0"}}, "s.json"), diffedit::ConfigError);
  EXPECT_THROW(dd::SchedulerConfig::from_json({{"num_train_timesteps", 4}, {"trained_betas", {0.1, 0.2}}}, "s.json"),
               diffedit::ConfigError);
}

TEST(Schedulers, TimestepSpacings) {
  auto with = [](const char* spacing, std::int64_t offset) {
    auto c = dd::SchedulerConfig::from_json({{"timestep_spacing", spacing}, {"steps_offset", offset}}, "s");
    return c;
  };
  EXPECT_EQ(dd::inference_timesteps(with("leading", 1), 10), (std::vector<std::int64_t>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
  EXPECT_EQ(dd::inference_timesteps(with("trailing", 0), 10), (std::vector<std::int64_t>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
  EXPECT_EQ(dd::inference_timesteps(with("linspace", 0), 10), (std::vector<std::int64_t>{999, 888, 777, 666, 555, 444, 333, 222, 111, 0}));
  // np.round(np.arange(1000, 0, -1000/7)) - 1
  EXPECT_EQ(dd::inference_timesteps(with("trailing", 0), 7), (std::vector<std::int64_t>{999, 856, 713, 570, 428, 285, 142}));
  EXPECT_EQ(dd::inverse_inference_timesteps(with("trailing", 0), 4), (std::vector<std::int64_t>{249, 499, 749, 999}));
  EXPECT_THROW(dd::inverse_inference_timesteps(with("linspace", 0), 4), diffedit::ConfigError);
  EXPECT_THROW(dd::inference_timesteps(with("leading", 0), 0), diffedit::InputError);
}

TEST(Schedulers, BetaSchedules) {
  auto cfg = [](const char* schedule) {
    return dd::SchedulerConfig::from_json({{"beta_schedule", schedule}, {"beta_start", 0.0001}, {"beta_end", 0.02}}, "s");
  };
  const dd::NoiseSchedule linear(cfg("linear"));
  EXPECT_FLOAT_EQ(linear.betas[0].item<float>(), 0.0001f);
  EXPECT_FLOAT_EQ(linear.betas[-1].item<float>(), 0.02f);
  const dd::NoiseSchedule cosine(cfg("squaredcos_cap_v2"));
  // alpha_bar(t) = cos^2((t/T + s)/(1 + s) pi/2) with s = 0.008 (Nichol & Dhariwal 2021)
  const double f0 = std::pow(std::cos(0.008 / 1.008 * M_PI / 2), 2);
  const double f1 = std::pow(std::cos((1.0 / 1000 + 0.008) / 1.008 * M_PI / 2), 2);
  EXPECT_NEAR(cosine.betas[0].item<float>(), 1 - f1 / f0, 1e-7);
  EXPECT_FLOAT_EQ(cosine.betas[-1].item<float>(), 0.999f) << "clipped at max_beta";
  auto zsnr = cfg("scaled_linear");
  zsnr.rescale_betas_zero_snr = true;
  const dd::NoiseSchedule rescaled(zsnr);
  EXPECT_EQ(rescaled.alpha_bar(999), 0.0f) << "zero terminal SNR";
  EXPECT_NEAR(rescaled.alpha_bar(0), dd::NoiseSchedule(cfg("scaled_linear")).alpha_bar(0), 1e-6);
}

TEST(Schedulers, PredictionTypesAgree) {
  // With x_t = sqrt(a) x0 + sqrt(1-a) eps and v = sqrt(a) eps - sqrt(1-a) x0, every
  // parameterisation recovers the same x0 and eps.
  at::manual_seed(0);
  const at::Tensor x0 = at::randn({1, 4, 8, 8}), eps = at::randn({1, 4, 8, 8});
  const float a = 0.3f;
  const at::Tensor xt = x0 * std::sqrt(a) + eps * std::sqrt(1 - a);
  const at::Tensor v = eps * std::sqrt(a) - x0 * std::sqrt(1 - a);
  for (const auto& [type, output] :
       std::vector<std::pair<const char*, at::Tensor>>{{"epsilon", eps}, {"v_prediction", v}, {"sample", x0}}) {
    const auto c = dd::SchedulerConfig::from_json({{"prediction_type", type}, {"clip_sample", false}}, "s");
    const auto p = dd::predict(c, output, xt, a);
    EXPECT_TRUE(at::allclose(p.x0, x0, 1e-5, 1e-5)) << type;
    EXPECT_TRUE(at::allclose(p.eps, eps, 1e-5, 1e-5)) << type;
  }
  const auto clipped = dd::SchedulerConfig::from_json({{"clip_sample", true}, {"clip_sample_range", 0.5}}, "s");
  EXPECT_LE(dd::predict(clipped, eps, xt, a).x0.abs().max().item<float>(), 0.5f);
}

// diffusers' _threshold_sample, worked by hand: a sample whose 0.5-quantile of |x| is 2 (clamped
// to sample_max_value 1.5) and one whose quantile is below 1 (s = 1: plain clipping).
TEST(Schedulers, DynamicThresholdingPerSample) {
  const at::Tensor x0 = at::tensor({-3.0f, 1.0f, 2.0f, 4.0f, 0.25f, -0.5f, 0.5f, 2.0f}).reshape({2, 1, 2, 2});
  const at::Tensor got = dd::dynamic_threshold(x0, 0.5, 1.5);
  // sample 0: |x| = 3, 1, 2, 4 -> median 2.5 -> s = 1.5; sample 1: |x| = .25, .5, .5, 2 -> median .5 -> s = 1.
  const at::Tensor want = at::tensor({-1.0f, 1.0f / 1.5f, 1.0f, 1.0f, 0.25f, -0.5f, 0.5f, 1.0f}).reshape({2, 1, 2, 2});
  EXPECT_TRUE(at::allclose(got, want, 1e-6, 1e-6)) << got;

  // In a DDIM step it replaces clip_sample; the inverse scheduler only clips (as diffusers').
  const auto c = dd::SchedulerConfig::from_json(
      {{"thresholding", true}, {"dynamic_thresholding_ratio", 0.5}, {"sample_max_value", 1.5}, {"clip_sample", true}}, "s");
  EXPECT_TRUE(c.thresholding);
  const at::Tensor sample = at::zeros_like(x0);
  const float a = 0.25f;  // x0 = (0 - sqrt(0.75) eps) / 0.5
  const at::Tensor eps = -x0 * 0.5 / std::sqrt(0.75);
  EXPECT_TRUE(at::allclose(dd::predict(c, eps, sample, a).x0, want, 1e-5, 1e-5));
  EXPECT_LE(dd::predict(c, eps, sample, a, /*thresholding_allowed=*/false).x0.abs().max().item<float>(), 1.0f);
  EXPECT_GT(dd::predict(c, eps, sample, a, false).x0[0][0][1][0].item<float>(), 0.99f);  // clipped 2 -> 1, not 2 / 1.5
  EXPECT_EQ(dd::SchedulerConfig::from_json(c.to_json(), "round trip").sample_max_value, 1.5);
}

TEST(Schedulers, DdimInversionIsExactUnderAFixedNoisePrediction) {
  // With eps independent of x, one inverse step and the matching DDIM step are exact inverses.
  at::manual_seed(1);
  const at::Tensor x0 = at::randn({1, 4, 8, 8}), eps = at::randn({1, 4, 8, 8});
  dd::DDIMInverseScheduler inverse(sd_config());
  dd::DDIMScheduler ddim(sd_config());
  inverse.set_timesteps(20);
  ddim.set_timesteps(20);
  at::Tensor x = x0;
  for (auto t : inverse.timesteps()) x = inverse.step(eps, t, x).prev_sample;
  for (auto t : ddim.timesteps()) x = ddim.step(eps, t, x).prev_sample;
  EXPECT_LT((x - x0).abs().max().item<float>(), 1e-4);
}

TEST(Schedulers, DdimEtaNeedsNoiseAndAddsIt) {
  dd::DDIMScheduler ddim(sd_config());
  ddim.set_timesteps(10);
  const at::Tensor x = at::ones({1, 4, 2, 2}), eps = at::zeros({1, 4, 2, 2});
  EXPECT_THROW(ddim.step(eps, 501, x, 1.0), diffedit::InputError);
  const auto a = ddim.step(eps, 501, x, 1.0, at::zeros({1, 4, 2, 2}));
  const auto b = ddim.step(eps, 501, x, 1.0, at::ones({1, 4, 2, 2}));
  const double a_t = ddim.schedule().alpha_bar(501), a_prev = ddim.schedule().alpha_bar(401);
  const double sigma = std::sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev));
  EXPECT_NEAR((b.prev_sample - a.prev_sample).mean().item<double>(), sigma, 1e-6);
}

TEST(Schedulers, DdpmPosteriorMatchesClosedForm) {
  dd::DDPMScheduler ddpm(sd_config());
  const std::int64_t t = 500;
  const double a_t = dd::NoiseSchedule(sd_config()).alpha_bar(t), a_prev = dd::NoiseSchedule(sd_config()).alpha_bar(t - 1);
  const double beta_t = 1 - a_t / a_prev;
  // float32 like the reference: 1 - a_t / a_prev cancels, so agreement is relative (~1e-5).
  const double closed_form = (1 - a_prev) / (1 - a_t) * beta_t;
  EXPECT_NEAR(ddpm.variance(t), closed_form, 1e-5 * closed_form);
  at::manual_seed(2);
  const at::Tensor x0 = at::randn({1, 4, 4, 4}), eps = at::randn({1, 4, 4, 4}), z = at::randn({1, 4, 4, 4});
  const at::Tensor xt = x0 * std::sqrt(a_t) + eps * std::sqrt(1 - a_t);
  const auto out = ddpm.step(eps, t, xt, z);
  const at::Tensor mean = x0 * (std::sqrt(a_prev) * beta_t / (1 - a_t)) + xt * (std::sqrt(1 - beta_t) * (1 - a_prev) / (1 - a_t));
  EXPECT_TRUE(at::allclose(out.prev_sample, mean + z * std::sqrt(ddpm.variance(t)), 1e-4, 1e-5));
  EXPECT_THROW(ddpm.step(eps, t, xt, std::nullopt), diffedit::InputError);
  EXPECT_NO_THROW(ddpm.step(eps, 0, xt, std::nullopt)) << "no noise at the last step";
  ddpm.set_timesteps(50);
  EXPECT_EQ(ddpm.timesteps().front(), 981);
}

TEST(Schedulers, TruncateTimesteps) {
  const std::vector<std::int64_t> ts = {901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
  const auto t = dd::truncate_timesteps(ts, 0.25);  // int(2.5) = 2
  EXPECT_EQ(t.denoise, (std::vector<std::int64_t>{101, 1}));
  EXPECT_EQ(t.invert, (std::vector<std::int64_t>{1, 101}));
  EXPECT_TRUE(dd::truncate_timesteps(ts, 0.0).denoise.empty());
  EXPECT_THROW(dd::truncate_timesteps(ts, 1.5), diffedit::InputError);
}
