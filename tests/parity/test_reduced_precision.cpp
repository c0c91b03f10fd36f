// Reduced precision on $DIFFEDIT_TEST_DEVICE (parity_support.h): each network of the parity
// fixtures (the SD1 UNet, the VAE, the CLIP text and vision towers) in float16 and in bfloat16
// against the same network in float32 on the same device, the float32 run being the one the
// fixtures verify. The deviation is measured relative to the float32 output's largest magnitude
// and bounded by kEpsilonMultiple times the format's machine epsilon (float16 2^-10, bfloat16
// 2^-7): a network computing in that format, rounding at every layer, lands within a few
// epsilons; a wrong cast (an overflow, a reduction left in the low format) lands far outside.
// float16 is skipped on the CPU (libtorch 1.13 has no float16 CPU convolutions).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
namespace st = diffedit::safetensors;
using diffedit::testing::fixture;
using diffedit::testing::test_device;
using diffedit::testing::within;

namespace {

constexpr double kEpsilonMultiple = 16.0;

class ReducedPrecision : public ::testing::TestWithParam<c10::ScalarType> {
 protected:
  void SetUp() override {
    if (GetParam() == c10::kHalf && test_device().is_cpu()) GTEST_SKIP() << "float16 needs DIFFEDIT_TEST_DEVICE=cuda";
  }
  c10::ScalarType dtype() const { return GetParam(); }
  double bound() const { return kEpsilonMultiple * (dtype() == c10::kHalf ? 0x1p-10 : 0x1p-7); }
  // An input on the test device, floating-point ones in `type`.
  static at::Tensor in(const at::Tensor& t, c10::ScalarType type) {
    return t.is_floating_point() ? t.to(test_device(), type) : t.to(test_device());
  }
  // Asserts |low - ref| <= bound * max |ref| (recorded relative, as within() records it).
  void check(const std::string& what, const at::Tensor& low, const at::Tensor& ref) const {
    const at::Tensor r = ref.to(at::kCPU, at::kFloat);
    const double scale = std::max(r.abs().max().item<double>(), 1e-12);
    EXPECT_TRUE(
        within(what + " " + c10::toString(dtype()) + " vs float32, relative", low.to(at::kCPU, at::kFloat) / scale, r / scale, bound()));
  }
};

// A network of type T loaded from `weights` twice: in float32 and in the tested dtype, both on the
// test device, in eval mode.
template <typename Module, typename Make>
std::pair<Module, Module> both(const Make& make, const std::filesystem::path& weights, c10::ScalarType dtype) {
  const auto file = st::File::open(weights);
  Module f32 = make(), low = make();
  models::load_state_dict(*f32, file);
  models::load_state_dict(*low, file);
  f32->eval();
  low->eval();
  f32->to(test_device());
  low->to(test_device(), dtype);
  return {f32, low};
}

}  // namespace

TEST_P(ReducedPrecision, UNetSd1Tiny) {
  const auto dir = fixture("diffusers-v0.31/unet_sd1_tiny");
  const auto cfg = models::UNetConfig::load(dir / "config.json");
  auto [f32, low] =
      both<models::UNet2DConditionModel>([&] { return models::UNet2DConditionModel(cfg); }, dir / "weights.safetensors", dtype());
  const auto c = st::File::open(dir / "case.safetensors");
  torch::NoGradGuard no_grad;
  const at::Tensor t = in(c.tensor("timesteps").to(at::kLong), at::kLong);
  const at::Tensor ref = f32->forward(in(c.tensor("sample"), at::kFloat), t, in(c.tensor("encoder_hidden_states"), at::kFloat));
  const at::Tensor out = low->forward(in(c.tensor("sample"), dtype()), t, in(c.tensor("encoder_hidden_states"), dtype()));
  EXPECT_EQ(out.scalar_type(), dtype());
  check("unet_sd1_tiny output", out, ref);
}

TEST_P(ReducedPrecision, VaeTinyEncodeDecode) {
  const auto dir = fixture("diffusers-v0.31/vae_tiny");
  const auto cfg = models::VAEConfig::load(dir / "config.json");
  auto [f32, low] = both<models::AutoencoderKL>([&] { return models::AutoencoderKL(cfg); }, dir / "weights.safetensors", dtype());
  const auto c = st::File::open(dir / "case.safetensors");
  torch::NoGradGuard no_grad;
  check("vae_tiny posterior mean", low->encode(in(c.tensor("image"), dtype())).mean, f32->encode(in(c.tensor("image"), at::kFloat)).mean);
  check("vae_tiny decode", low->decode(in(c.tensor("decode.latent"), dtype())), f32->decode(in(c.tensor("decode.latent"), at::kFloat)));
}

TEST_P(ReducedPrecision, ClipTextSd1) {
  const auto dir = fixture("clip-v1/text_sd1");
  const auto cfg = models::CLIPTextConfig::load(dir / "config.json");
  auto [f32, low] = both<models::CLIPTextModel>([&] { return models::CLIPTextModel(cfg, true); }, dir / "model.safetensors", dtype());
  const auto o = st::File::open(dir / "outputs.safetensors");
  torch::NoGradGuard no_grad;
  const at::Tensor ids = in(o.tensor("input_ids"), at::kLong);
  const auto ref = f32->forward(ids), out = low->forward(ids);
  check("text_sd1 last_hidden_state", out.last_hidden_state, ref.last_hidden_state);
  check("text_sd1 text_embeds", out.text_embeds, ref.text_embeds);
}

TEST_P(ReducedPrecision, ClipVision) {
  const auto dir = fixture("clip-v1/vision");
  auto f32 = models::load_clip_vision(dir), low = models::load_clip_vision(dir);
  f32->eval();
  low->eval();
  f32->to(test_device());
  low->to(test_device(), dtype());
  const auto o = st::File::open(dir / "outputs.safetensors");
  torch::NoGradGuard no_grad;
  const auto ref = f32->forward(in(o.tensor("pixel_values"), at::kFloat)), out = low->forward(in(o.tensor("pixel_values"), dtype()));
  check("vision last_hidden_state", out.last_hidden_state, ref.last_hidden_state);
  check("vision image_embeds", out.image_embeds, ref.image_embeds);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ReducedPrecision, ::testing::Values(c10::kHalf, c10::kBFloat16),
                         [](const ::testing::TestParamInfo<c10::ScalarType>& info) {
                           return std::string(info.param == c10::kHalf ? "float16" : "bfloat16");
                         });
