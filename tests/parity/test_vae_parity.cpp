// AutoencoderKL parity with diffusers 0.31 on the tiny VAE fixture: posterior (mean, logvar, std),
// a sample with the stored noise, decoding, and every traced intermediate. Runs on
// $DIFFEDIT_TEST_DEVICE (parity_support.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "models/autoencoder_kl.h"
#include "models/state_dict.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
using diffedit::testing::fixture;
using diffedit::testing::on_test_device;
using diffedit::testing::within;

namespace {
constexpr double kSpreadMultiple = 10.0;  // times the reference's own float64-vs-float32 spread
}

TEST(vae_parity, EncodeSampleDecode) {
  const auto dir = fixture("diffusers-v0.31/vae_tiny");
  const auto meta = diffedit::config::load_json(dir / "case.json");
  const auto cfg = models::VAEConfig::load(dir / "config.json");
  EXPECT_DOUBLE_EQ(cfg.scaling_factor, meta["scaling_factor"].get<double>());
  models::AutoencoderKL vae(cfg);
  models::load_state_dict(*vae, diffedit::safetensors::File::open(dir / "weights.safetensors"));
  vae->eval();
  vae->to(diffedit::testing::test_device());
  std::int64_t params = 0;
  for (const auto& p : vae->parameters()) params += p.numel();
  EXPECT_EQ(params, meta["num_parameters"].get<std::int64_t>());

  const auto c = diffedit::safetensors::File::open(dir / "case.safetensors");
  const auto& spread = meta["float64_vs_float32_max_abs_diff"];
  torch::NoGradGuard no_grad;
  models::Trace trace;
  const auto dist = vae->encode(on_test_device(c.tensor("image")), &trace);
  EXPECT_TRUE(within("mean", dist.mean, c.tensor("latent_dist.mean"), kSpreadMultiple * spread["mean"].get<double>()));
  EXPECT_TRUE(within("std", dist.std, c.tensor("latent_dist.std"), kSpreadMultiple * spread["std"].get<double>()));
  // logvar = 2 log(std), so its error is 2 d(std) / std, largest at the smallest std.
  const double logvar_tol = kSpreadMultiple * 2.0 * spread["std"].get<double>() / meta["absmax"]["std_min"].get<double>();
  EXPECT_TRUE(within("logvar", dist.logvar, c.tensor("latent_dist.logvar"), logvar_tol));
  const double noise_max = c.tensor("sample_noise").abs().max().item<double>();
  EXPECT_TRUE(within("sample", dist.sample(on_test_device(c.tensor("sample_noise"))), c.tensor("latent_dist.sample_with_noise"),
                     kSpreadMultiple * (spread["mean"].get<double>() + spread["std"].get<double>() * noise_max)));

  const at::Tensor decoded = vae->decode(on_test_device(c.tensor("decode.latent")), &trace);
  EXPECT_TRUE(within("decode", decoded, c.tensor("decode.expected_output"), kSpreadMultiple * spread["decode"].get<double>()));

  for (const auto& info : c.tensors()) {
    std::string key;
    if (info.name.rfind("intermediate.", 0) == 0) key = info.name.substr(13);
    if (info.name.rfind("decode.intermediate.", 0) == 0) key = info.name.substr(20);
    if (key.empty()) continue;
    ASSERT_TRUE(trace.count(key)) << "no traced intermediate " << key;
    const at::Tensor expected = c.tensor(info.name);
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    EXPECT_TRUE(within(key, trace[key], expected, kSpreadMultiple * spread["decode"].get<double>() * scale));
  }
}
