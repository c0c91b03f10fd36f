// Scheduler parity with diffusers 0.31 (fixtures: diffusers-v0.31/scheduler). Everything —
// configs, expected tables, step cases — is read from the fixture files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "diffusion/schedulers.h"
#include "test_support.h"

namespace dd = diffedit::diffusion;
using diffedit::config::Json;
using diffedit::testing::fixture;

namespace {

const Json& scheduler_json() {
  static const Json j = diffedit::config::load_json(fixture("diffusers-v0.31/scheduler/scheduler.json"));
  return j;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Step outputs: float32 with the reference's operation order. Measured: bit-exact (difference 0)
// on every case; the bound leaves a few ulps for other CPUs' vector kernels.
constexpr double kStepTolerance = 2e-6;

}  // namespace

TEST(sched_parity, DdimTablesMatchFloat32Reference) {
  const Json& ref = scheduler_json()["DDIMScheduler"];
  const auto config = dd::SchedulerConfig::from_json(ref["config"], "scheduler.json");
  const dd::DDIMScheduler ddim(config);
  const auto betas = ref["betas"].get<std::vector<float>>();
  const auto alphas = ref["alphas_cumprod"].get<std::vector<float>>();
  ASSERT_EQ(ddim.schedule().size(), static_cast<std::int64_t>(alphas.size()));
  for (std::size_t t = 0; t < alphas.size(); ++t) {
    ASSERT_EQ(ddim.schedule().betas[static_cast<std::int64_t>(t)].item<float>(), betas[t]) << "beta " << t;
    ASSERT_EQ(ddim.schedule().alpha_bar(static_cast<std::int64_t>(t)), alphas[t]) << "alphas_cumprod " << t;
  }
  EXPECT_EQ(ddim.final_alpha_cumprod(), ref["final_alpha_cumprod"].get<float>());
  EXPECT_EQ(ddim.init_noise_sigma(), ref["init_noise_sigma"].get<float>());
}

TEST(sched_parity, TimestepsOfDdimAndInverse) {
  const Json& j = scheduler_json();
  for (const char* name : {"DDIMScheduler", "DDIMInverseScheduler"}) {
    const auto config = dd::SchedulerConfig::from_json(j[name]["config"], "scheduler.json");
    for (const std::int64_t n : {10, 50}) {
      const auto expected = j[name]["timesteps_" + std::to_string(n)].get<std::vector<std::int64_t>>();
      if (std::string(name) == "DDIMScheduler") {
        dd::DDIMScheduler s(config);
        s.set_timesteps(n);
        EXPECT_EQ(s.timesteps(), expected) << name << " n=" << n;
      } else {
        dd::DDIMInverseScheduler s(config);
        s.set_timesteps(n);
        EXPECT_EQ(s.timesteps(), expected) << name << " n=" << n;
        EXPECT_EQ(s.initial_alpha_cumprod(), j[name]["initial_alpha_cumprod"].get<float>());
      }
    }
  }
}

TEST(sched_parity, DiffEditTruncatedTimesteps) {
  const Json& j = scheduler_json();
  const auto config = dd::SchedulerConfig::from_json(j["DDIMScheduler"]["config"], "scheduler.json");
  ASSERT_FALSE(j["diffedit_truncated_timesteps"].empty());
  for (const auto& [key, value] : j["diffedit_truncated_timesteps"].items()) {
    // key: "steps<n>_strength<s>"
    const auto n = std::stoll(key.substr(5, key.find('_') - 5));
    const double s = std::stod(key.substr(key.find("strength") + 8));
    dd::DDIMScheduler ddim(config);
    ddim.set_timesteps(n);
    const auto truncated = dd::truncate_timesteps(ddim.timesteps(), s);
    EXPECT_EQ(truncated.denoise, value["get_timesteps"].get<std::vector<std::int64_t>>()) << key;
    EXPECT_EQ(truncated.invert, value["get_inverse_timesteps"].get<std::vector<std::int64_t>>()) << key;
  }
}

TEST(sched_parity, EveryStepCase) {
  const Json& j = scheduler_json();
  const auto cases = diffedit::safetensors::File::open(fixture("diffusers-v0.31/scheduler/" + j["step_cases_file"].get<std::string>()));
  ASSERT_FALSE(j["step_cases"].empty());
  for (const auto& c : j["step_cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const std::string kind = c["scheduler"];
    const auto config = dd::SchedulerConfig::from_json(j[kind]["config"], "scheduler.json");
    if (c.contains("timesteps")) {  // add_noise case
      const dd::DDIMScheduler ddim(config);
      const auto noisy = ddim.add_noise(cases.tensor(name + ".original_samples"), cases.tensor(name + ".noise"),
                                        c["timesteps"].get<std::vector<std::int64_t>>());
      EXPECT_LE(max_abs_diff(noisy, cases.tensor(name + ".noisy_samples")), kStepTolerance);
      continue;
    }
    const at::Tensor sample = cases.tensor(name + ".sample");
    const at::Tensor model_output = cases.tensor(name + ".model_output");
    const std::int64_t t = c["timestep"];
    dd::StepOutput out;
    if (kind == "DDIMScheduler") {
      dd::DDIMScheduler ddim(config);
      ddim.set_timesteps(c["set_timesteps"]);
      std::optional<at::Tensor> noise;
      if (c["variance_noise_given"].get<bool>()) noise = cases.tensor(name + ".variance_noise");
      out = ddim.step(model_output, t, sample, c["eta"].get<double>(), noise);
    } else {
      ASSERT_EQ(kind, "DDIMInverseScheduler");
      dd::DDIMInverseScheduler inv(config);
      inv.set_timesteps(c["set_timesteps"]);
      out = inv.step(model_output, t, sample);
    }
    EXPECT_LE(max_abs_diff(out.prev_sample, cases.tensor(name + ".prev_sample")), kStepTolerance);
    EXPECT_LE(max_abs_diff(out.pred_original_sample, cases.tensor(name + ".pred_original_sample")), kStepTolerance);
  }
}
