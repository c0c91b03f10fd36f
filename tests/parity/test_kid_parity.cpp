// KID parity with clean-fid's kernel_distance (fixture: metrics-v1/kid, on the a_d64 features):
// the full unbiased MMD^2 and the subset estimates on the stored subset rows, float32 and float64.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/kid.h"
#include "test_support.h"

namespace m = diffedit::metrics;
using diffedit::testing::fixture;

namespace {
std::vector<m::KidSubset> stored(const diffedit::safetensors::File& f, const std::string& name) {
  const at::Tensor r2 = f.tensor(name + ".idx_feats2"), r1 = f.tensor(name + ".idx_feats1");
  std::vector<m::KidSubset> out;
  for (std::int64_t s = 0; s < r2.size(0); ++s) {
    const at::Tensor a = r2[s].contiguous(), b = r1[s].contiguous();
    out.push_back({std::vector<std::int64_t>(a.data_ptr<std::int64_t>(), a.data_ptr<std::int64_t>() + a.numel()),
                   std::vector<std::int64_t>(b.data_ptr<std::int64_t>(), b.data_ptr<std::int64_t>() + b.numel())});
  }
  return out;
}
}  // namespace

// README tolerances: float64 1e-9 relative; float32 arithmetic differs from float64 at ~1e-6
// relative, and our float32 summation order from numpy's: 1e-5 relative.
TEST(KidParity, FullAndSubsetEstimatesMatchCleanFid) {
  const auto feats = diffedit::safetensors::File::open(fixture("metrics-v1/fid/frechet.safetensors"));
  const auto kid = diffedit::safetensors::File::open(fixture("metrics-v1/kid/kid_subsets.safetensors"));
  const auto r = diffedit::config::load_json(fixture("metrics-v1/results.json"))["kid"];
  const at::Tensor f1 = feats.tensor("a_d64.feats1"), f2 = feats.tensor("a_d64.feats2");
  const double full = r["mmd2_unbiased_full_f64"].get<double>();
  EXPECT_NEAR(m::kid_unbiased(f1, f2), full, 1e-9 * std::abs(full));
  for (const std::string s : {"s1", "s3m100"}) {
    const auto subsets = stored(kid, s);
    const double f64 = r["cleanfid_" + s + "_f64"].get<double>(), f32 = r["cleanfid_" + s + "_f32"].get<double>();
    EXPECT_NEAR(m::kid_subsets(f1, f2, subsets, at::kDouble), f64, 1e-9 * std::abs(f64)) << s;
    EXPECT_NEAR(m::kid_subsets(f1, f2, subsets, at::kFloat), f32, 1e-5 * std::abs(f32)) << s;
  }
}

TEST(KidParity, DrawnSubsetsAreDeterministicAndValid) {
  const auto a = m::draw_kid_subsets(500, 400, 3, 100, 7), b = m::draw_kid_subsets(500, 400, 3, 100, 7);
  ASSERT_EQ(a.size(), 3u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].rows1, b[i].rows1);
    ASSERT_EQ(a[i].rows2.size(), 100u);
    std::vector<std::int64_t> r = a[i].rows2;
    std::sort(r.begin(), r.end());
    EXPECT_EQ(std::unique(r.begin(), r.end()), r.end()) << "without replacement";
    EXPECT_LT(r.back(), 400);
  }
  EXPECT_EQ(m::draw_kid_subsets(50, 400, 1, 1000, 0)[0].rows1.size(), 50u) << "m = min(N1, N2, max)";
  EXPECT_THROW(m::kid_unbiased(at::zeros({5, 3}), at::zeros({5, 4})), diffedit::InputError);
}
