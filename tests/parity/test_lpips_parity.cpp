// LPIPS parity with lpips v0.1 (fixture: metrics-v1/lpips): backbones alex, vgg, squeeze with
// weights from the fixtures' generator (checked against the spec's checksums first), tapped
// features, head outputs, per-layer terms, averaged and spatial distances, the odd-size pair.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/safetensors.h"
#include "generated_weights.h"
#include "metrics/lpips.h"
#include "parity_support.h"
#include "test_support.h"

namespace m = diffedit::metrics;
using diffedit::testing::fixture;
using diffedit::testing::within;

TEST(LpipsParity, WeightGeneratorMatchesTheSpecChecksums) {
  for (const std::string net : {"lpips_alex", "lpips_vgg", "lpips_squeeze", "fid_inception_v3"}) {
    const auto tensors = diffedit::testing::generated_network(net);
    for (const auto& t : diffedit::testing::weights_spec(net)) {
      const at::Tensor x = tensors.at(t["name"].get<std::string>()).reshape(-1);
      const auto first4 = t["first4"].get<std::vector<double>>(), last4 = t["last4"].get<std::vector<double>>();
      for (std::size_t i = 0; i < first4.size(); ++i) {
        ASSERT_EQ(x[static_cast<std::int64_t>(i)].item<float>(), static_cast<float>(first4[i])) << t["name"];
        ASSERT_EQ(x[x.numel() - static_cast<std::int64_t>(last4.size() - i)].item<float>(), static_cast<float>(last4[i])) << t["name"];
      }
      EXPECT_NEAR(x.to(at::kDouble).sum().item<double>(), t["sum_f64"].get<double>(),
                  1e-9 * std::max(1.0, std::abs(t["sum_f64"].get<double>())))
          << t["name"];
    }
  }
}

namespace {
m::Lpips lpips_of(const std::string& net) {
  diffedit::testing::ScratchDir dir;
  diffedit::safetensors::write(dir / "w.safetensors", diffedit::testing::generated_network("lpips_" + net));
  return m::load_lpips(net, dir / "w.safetensors");
}
}  // namespace

// README: float32 vs float64 differ by ~1e-8 (distance) and ~1e-7 (spatial maps); suggested 1e-6
// absolute; the identical pair must be exactly 0. Features (O(1..10)) at 1e-4.
TEST(LpipsParity, AlexVggSqueeze) {
  const auto inputs = diffedit::safetensors::File::open(fixture("metrics-v1/lpips/inputs.safetensors"));
  const at::Tensor in0 = inputs.tensor("in0"), in1 = inputs.tensor("in1");
  const at::Tensor odd0 = inputs.tensor("odd_in0"), odd1 = inputs.tensor("odd_in1");
  torch::NoGradGuard no_grad;
  for (const std::string net : {"alex", "vgg", "squeeze"}) {
    auto lp = lpips_of(net);
    const auto ref = diffedit::safetensors::File::open(fixture("metrics-v1/lpips/" + net + ".safetensors"));
    const auto feats = lp->backbone()->forward((in0.slice(0, 0, 1) - at::tensor({-.030f, -.088f, -.188f}).view({1, 3, 1, 1})) /
                                               at::tensor({.458f, .448f, .450f}).view({1, 3, 1, 1}));
    const auto heads = lp->head_outputs(in0.slice(0, 0, 1), in1.slice(0, 0, 1));
    for (std::size_t k = 0; k < feats.size(); ++k) {
      const std::string l = std::to_string(k);
      EXPECT_TRUE(within(net + " feat first8 " + l, feats[k].slice(1, 0, 8), ref.tensor("feat_in0_pair0.layer" + l + ".first8ch"), 1e-4));
      // Sums of squares over up to 512 channels reach the thousands: 1e-6 relative to the largest.
      const at::Tensor sumsq = ref.tensor("feat_in0_pair0.layer" + l + ".chsumsq");
      EXPECT_TRUE(within(net + " chsumsq " + l, feats[k].pow(2).sum(1, true), sumsq, 1e-6 * sumsq.abs().max().item<double>()));
      EXPECT_TRUE(within(net + " linout " + l, heads[k], ref.tensor("linout_pair0.layer" + l), 1e-6));
    }
    const auto avg = lp->forward(in0, in1);
    EXPECT_TRUE(within(net + " avg.dist", avg.distance, ref.tensor("avg.dist"), 1e-6));
    EXPECT_EQ(avg.distance[2].item<float>(), 0.0f) << net << ": identical pair";
    for (std::size_t k = 0; k < avg.layers.size(); ++k)
      EXPECT_TRUE(within(net + " avg.res" + std::to_string(k), avg.layers[k], ref.tensor("avg.res" + std::to_string(k)), 1e-6));
    const auto sp = lp->forward(in0, in1, true);
    EXPECT_TRUE(within(net + " spatial.dist", sp.distance, ref.tensor("spatial.dist"), 1e-6));
    EXPECT_TRUE(within(net + " spatial.res0", sp.layers[0].slice(0, 0, 1), ref.tensor("spatial.res0"), 1e-6));
    EXPECT_TRUE(within(net + " avg.odd_dist", lp->forward(odd0, odd1).distance, ref.tensor("avg.odd_dist"), 1e-6));
    EXPECT_TRUE(within(net + " spatial.odd_dist", lp->forward(odd0, odd1, true).distance, ref.tensor("spatial.odd_dist"), 1e-6));
  }
}

TEST(LpipsParity, BadInputsAreNamed) {
  EXPECT_THROW(m::Lpips("resnet"), diffedit::InputError);
  auto lp = m::Lpips("alex");
  torch::NoGradGuard no_grad;
  EXPECT_THROW(lp->forward(at::zeros({1, 3, 64, 64}), at::zeros({1, 3, 32, 32})), diffedit::InputError);
}

TEST(LpipsParity, MissingHeadIsNamedAsTheFileNamesIt) {
  diffedit::testing::ScratchDir dir;
  auto weights = diffedit::testing::generated_network("lpips_alex");
  weights.erase("lin3.model.1.weight");
  diffedit::safetensors::write(dir / "w.safetensors", weights);
  try {
    m::load_lpips("alex", dir / "w.safetensors");
    FAIL();
  } catch (const diffedit::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("1 missing: lin3.model.1.weight"), std::string::npos) << e.what();
  }
}
