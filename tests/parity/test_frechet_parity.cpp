// Fréchet distance parity with pytorch-fid's calculate_frechet_distance (fixture: metrics-v1/fid):
// statistics from the stored float32 features, the distance on the regular cases and on the
// singular case where the reference takes its eps-offset branch; HDF5 stats files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/frechet.h"
#include "metrics/stats_file.h"
#include "test_support.h"

namespace m = diffedit::metrics;
using diffedit::testing::fixture;

namespace {
const diffedit::config::Json& results() {
  static const auto r = diffedit::config::load_json(fixture("metrics-v1/results.json"));
  return r;
}
const diffedit::safetensors::File& frechet_file() {
  static const auto f = diffedit::safetensors::File::open(fixture("metrics-v1/fid/frechet.safetensors"));
  return f;
}
double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

// README: mu/sigma are numpy float64 of the float32 features; a float64 re-computation differs only
// by summation order (measured here ~1e-16 relative): 1e-12 absolute.
TEST(FrechetParity, StatisticsMatchNumpy) {
  for (const std::string c : {"a_d64", "c_singular_d128"}) {
    for (const std::string k : {"1", "2"}) {
      const auto s = m::feature_stats(frechet_file().tensor(c + ".feats" + k));
      EXPECT_LT(max_abs(s.mu, frechet_file().tensor(c + ".mu" + k)), 1e-12) << c;
      EXPECT_LT(max_abs(s.sigma, frechet_file().tensor(c + ".sigma" + k)), 1e-12) << c;
    }
  }
  const auto b = m::feature_stats(frechet_file().tensor("b_d256.feats1"));
  EXPECT_LT(max_abs(b.sigma.diagonal(), frechet_file().tensor("b_d256.sigma1_diag")), 1e-12);
  EXPECT_NEAR(b.sigma.trace().item<double>(), results()["fid"]["b_d256"]["sigma_checksums"]["sigma1"]["trace"].get<double>(), 1e-9);
}

// README tolerance: 1e-9 relative in float64 on the regular cases (pytorch-fid vs an eigen-based
// evaluation differ by ~1e-12 there).
TEST(FrechetParity, RegularCasesMatchPytorchFid) {
  for (const std::string c : {"a_d64", "b_d256"}) {
    const auto a = m::feature_stats(frechet_file().tensor(c + ".feats1"));
    const auto b = m::feature_stats(frechet_file().tensor(c + ".feats2"));
    const auto r = m::frechet_distance(a, b);
    const double expected = results()["fid"][c]["fid_pytorch_fid"].get<double>();
    EXPECT_FALSE(r.repeated_zero_eigenvalue) << c;
    EXPECT_NEAR(r.distance, expected, 1e-9 * expected) << c;
  }
}

// The singular case (16 units copied 8x): the reference's sqrtm fails and it retries with eps I
// added to both covariances inside the root. README: that branch vs the eigen evaluation with the
// same offset differ by ~3e-8 absolute; without the offset by ~2.5e-4. Tolerance 1e-7 absolute.
TEST(FrechetParity, SingularCaseTakesTheEpsBranch) {
  const auto a = m::feature_stats(frechet_file().tensor("c_singular_d128.feats1"));
  const auto b = m::feature_stats(frechet_file().tensor("c_singular_d128.feats2"));
  const auto& ref = results()["fid"]["c_singular_d128"];
  ASSERT_TRUE(ref["eps_branch_fired"].get<bool>());
  const auto r = m::frechet_distance(a, b, {1e-6, m::EpsOffset::always});
  EXPECT_TRUE(r.offset_applied);
  EXPECT_NEAR(r.distance, ref["fid_pytorch_fid"].get<double>(), 1e-7);
  // Without the offset the 112 null directions contribute square roots of rounding-level
  // eigenvalues (~1e-8 each), so two float64 evaluations agree only to ~1e-5.
  const auto never = m::frechet_distance(a, b);
  EXPECT_TRUE(never.repeated_zero_eigenvalue) << "the singular product (rank 16 of 128) is reported";
  EXPECT_NEAR(never.distance, ref["fid_eigh_reference_no_eps"].get<double>(), 1e-5);
  EXPECT_GT(std::abs(never.distance - r.distance), 1e-4) << "the two branches are distinguishable";
}

TEST(FrechetParity, StatsFileRoundTripAndErrors) {
  diffedit::testing::ScratchDir dir;
  m::StatsFile f;
  f.stats = m::feature_stats(frechet_file().tensor("a_d64.feats1"));
  f.feature_net = "inception-fid";
  f.weights_hash = "abc123";
  f.preprocessing = "pytorch-fid: bilinear 299, 2x-1";
  m::write_stats(dir / "a.h5", f);
  const auto g = m::read_stats(dir / "a.h5");
  EXPECT_TRUE(at::equal(g.stats.mu, f.stats.mu));
  EXPECT_TRUE(at::equal(g.stats.sigma, f.stats.sigma));
  EXPECT_EQ(g.stats.n, frechet_file().tensor("a_d64.feats1").size(0));
  EXPECT_EQ(g.feature_net, "inception-fid");
  EXPECT_EQ(g.weights_hash, "abc123");
  EXPECT_EQ(g.preprocessing, f.preprocessing);

  diffedit::testing::write_bytes(dir / "not.h5", "this is not HDF5");
  try {
    m::read_stats(dir / "not.h5");
    FAIL();
  } catch (const diffedit::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m::read_stats(dir / "missing.h5"), diffedit::FileError);

  f.stats.mu[0] = std::nan("");
  m::write_stats(dir / "nan.h5", f);
  EXPECT_THROW(m::read_stats(dir / "nan.h5"), diffedit::FormatError);

  const auto small = m::feature_stats(at::randn({10, 4}, at::kDouble));
  try {
    m::frechet_distance(g.stats, small);
    FAIL();
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dimensions differ: 64 vs 4"), std::string::npos) << e.what();
  }
}
