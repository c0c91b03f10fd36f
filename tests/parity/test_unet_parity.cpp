// UNet2DConditionModel parity with diffusers 0.31 on the tiny SD1 and SD2 fixtures. Config,
// weights, inputs, expected outputs and the tolerance basis all come from the fixture directory.
// Runs on $DIFFEDIT_TEST_DEVICE (parity_support.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
using diffedit::testing::fixture;
using diffedit::testing::on_test_device;
using diffedit::testing::within;

namespace {

// The fixture states the reference's own float64-vs-float32 spread; a float32 re-implementation
// must land within a small multiple of it.
constexpr double kSpreadMultiple = 10.0;

void check_unet_case(const std::string& name) {
  const auto dir = fixture("diffusers-v0.31/" + name);
  const auto meta = diffedit::config::load_json(dir / "case.json");
  const auto cfg = models::UNetConfig::load(dir / "config.json");
  models::UNet2DConditionModel unet(cfg);
  const auto weights = diffedit::safetensors::File::open(dir / "weights.safetensors");
  models::load_state_dict(*unet, weights);
  unet->eval();
  unet->to(diffedit::testing::test_device());
  std::int64_t params = 0;
  for (const auto& p : unet->parameters()) params += p.numel();
  EXPECT_EQ(params, meta["num_parameters"].get<std::int64_t>());

  const auto c = diffedit::safetensors::File::open(dir / "case.safetensors");
  torch::NoGradGuard no_grad;
  const double tol = kSpreadMultiple * meta["float64_vs_float32_max_abs_diff"].get<double>();
  models::Trace trace;
  const at::Tensor out = unet->forward(on_test_device(c.tensor("sample")), on_test_device(c.tensor("timesteps").to(at::kLong)),
                                       on_test_device(c.tensor("encoder_hidden_states")), &trace);
  EXPECT_TRUE(within(name + " output", out, c.tensor("expected_output"), tol));
  for (const auto& info : c.tensors()) {
    if (info.name.rfind("intermediate.", 0) != 0) continue;
    const std::string key = info.name.substr(13);
    ASSERT_TRUE(trace.count(key)) << "no traced intermediate " << key;
    const at::Tensor expected = c.tensor(info.name);
    // Intermediates can be larger than the output; scale the bound with their magnitude.
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    EXPECT_TRUE(within(name + " " + key, trace[key], expected, tol * scale));
  }

  // case_b: batch 1 and a 0-dim timestep, as pipelines call the UNet.
  const double tol_b = kSpreadMultiple * meta["case_b_float64_vs_float32_max_abs_diff"].get<double>();
  const at::Tensor t0 = on_test_device(c.tensor("case_b.timestep").to(at::kLong).reshape({}));
  const at::Tensor out_b =
      unet->forward(on_test_device(c.tensor("case_b.sample")), t0, on_test_device(c.tensor("case_b.encoder_hidden_states")));
  EXPECT_TRUE(within(name + " case_b output", out_b, c.tensor("case_b.expected_output"), tol_b));
}

}  // namespace

TEST(unet_parity, Sd1Tiny) { check_unet_case("unet_sd1_tiny"); }
TEST(unet_parity, Sd2TinyLinearProjectionPerBlockHeadsUpcast) { check_unet_case("unet_sd2_tiny"); }
