// Region metrics: masked MSE/PSNR conventions and mask IoU on hand-checkable cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "core/errors.h"
#include "metrics/lpips.h"
#include "metrics/region.h"

namespace m = diffedit::metrics;

TEST(RegionMetrics, MaskedMseCountsOnlyTheRegionOverAllChannels) {
  at::Tensor a = at::zeros({3, 4, 4}), b = at::zeros({3, 4, 4});
  b.index_put_({at::indexing::Slice(), 0, 0}, 0.5);  // one pixel differs, in every channel
  at::Tensor mask = at::zeros({1, 4, 4});
  mask.index_put_({0, 0, 0}, 1.0);
  EXPECT_DOUBLE_EQ(m::masked_mse(a, b, mask, m::Region::inside), 0.25);
  EXPECT_DOUBLE_EQ(m::masked_mse(a, b, mask, m::Region::outside), 0.0);
  EXPECT_DOUBLE_EQ(m::masked_psnr(a, b, mask, m::Region::outside), m::kMaxPsnrDb);
  EXPECT_NEAR(m::masked_psnr(a, b, mask, m::Region::inside), 10 * std::log10(4.0), 1e-12);
  // Whole image: one of 16 pixels differs.
  EXPECT_DOUBLE_EQ(m::masked_mse(a, b, at::zeros({1, 4, 4}), m::Region::outside), 0.25 / 16);
  EXPECT_TRUE(std::isnan(m::masked_mse(a, b, at::zeros({1, 4, 4}), m::Region::inside)));
  EXPECT_THROW(m::masked_mse(a, b, at::zeros({1, 2, 2}), m::Region::inside), diffedit::InputError);
}

TEST(RegionMetrics, MaskIoU) {
  at::Tensor x = at::zeros({4, 4}), y = at::zeros({4, 4});
  EXPECT_DOUBLE_EQ(m::mask_iou(x, y), 1.0);
  x.index_put_({at::indexing::Slice(0, 2), at::indexing::Slice()}, 1.0);  // 8 pixels
  y.index_put_({at::indexing::Slice(1, 3), at::indexing::Slice()}, 1.0);  // 8 pixels, 4 shared
  EXPECT_DOUBLE_EQ(m::mask_iou(x, y), 4.0 / 12.0);
  EXPECT_DOUBLE_EQ(m::mask_iou(x, x * 0.9), 1.0) << "binarised at 0.5";
}

// SSIM at one pixel computed directly from the definition: Gaussian-weighted means, variances and
// covariance over the 11x11 window of the reflect-padded images.
double ssim_at(const at::Tensor& x, const at::Tensor& y, int i, int j) {
  const int h = static_cast<int>(x.size(0)), w = static_cast<int>(x.size(1));
  auto reflect = [](int k, int n) { return k < 0 ? -k : (k >= n ? 2 * n - 2 - k : k); };
  double wsum = 0, mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
  for (int di = -5; di <= 5; ++di)
    for (int dj = -5; dj <= 5; ++dj) {
      const double wt = std::exp(-(di * di + dj * dj) / (2 * 1.5 * 1.5));
      const double a = x[reflect(i + di, h)][reflect(j + dj, w)].item<double>(),
                   b = y[reflect(i + di, h)][reflect(j + dj, w)].item<double>();
      wsum += wt, mx += wt * a, my += wt * b, xx += wt * a * a, yy += wt * b * b, xy += wt * a * b;
    }
  mx /= wsum, my /= wsum, xx = xx / wsum - mx * mx, yy = yy / wsum - my * my, xy = xy / wsum - mx * my;
  const double c1 = 1e-4, c2 = 9e-4;
  return (2 * mx * my + c1) * (2 * xy + c2) / ((mx * mx + my * my + c1) * (xx + yy + c2));
}

TEST(RegionMetrics, SsimFollowsItsDefinitionAtEveryPixelIncludingBorders) {
  at::manual_seed(0);
  const at::Tensor a = at::rand({2, 16, 12}, at::kDouble), b = (a + 0.2 * at::randn({2, 16, 12}, at::kDouble)).clamp(0, 1);
  const at::Tensor map = m::ssim_map(a, b);
  ASSERT_EQ(map.sizes(), a.sizes());
  for (auto [c, i, j] : {std::tuple{0, 0, 0}, {0, 7, 5}, {1, 15, 11}, {1, 3, 10}})
    EXPECT_NEAR(map[c][i][j].item<double>(), ssim_at(a[c], b[c], i, j), 1e-12) << c << " " << i << " " << j;
  EXPECT_TRUE(at::allclose(m::ssim_map(a, a), at::ones_like(a)));
  // Masked: the mean of the map over the region's pixels of both channels.
  at::Tensor mask = at::zeros({1, 16, 12});
  mask.index_put_({0, at::indexing::Slice(0, 8)}, 1.0);
  EXPECT_NEAR(m::masked_ssim(a, b, mask, m::Region::inside), map.slice(1, 0, 8).mean().item<double>(), 1e-12);
  EXPECT_NEAR(m::masked_ssim(a, b, mask, m::Region::outside), map.slice(1, 8, 16).mean().item<double>(), 1e-12);
  EXPECT_THROW(m::ssim_map(at::rand({3, 4, 4}), at::rand({3, 4, 4})), diffedit::InputError);
}

TEST(RegionMetrics, EditSuccessIsTargetProbabilityAndTop1) {
  const at::Tensor logits = at::tensor({0.0, std::log(3.0), 0.0, 5.0, 0.0, 0.0}, at::kDouble).view({2, 3});
  const auto s = m::edit_success(logits, at::tensor({1, 2}, at::kLong));
  EXPECT_NEAR(s.target_probability, 0.5 * (3.0 / 5.0 + 1.0 / (std::exp(5.0) + 2.0)), 1e-12);
  EXPECT_DOUBLE_EQ(s.top1, 0.5);
  EXPECT_THROW(m::edit_success(logits, at::tensor({1}, at::kLong)), diffedit::InputError);
}

TEST(RegionMetrics, MaskedLpipsAveragesTheSpatialMapOverTheRegion) {
  at::manual_seed(1);
  m::Lpips model("alex");  // random weights: the convention, not the network, is under test
  model->eval();
  const at::Tensor a = at::rand({1, 3, 64, 64}), b = at::rand({1, 3, 64, 64});
  at::Tensor mask = at::zeros({1, 1, 64, 64});
  mask.index_put_({0, 0, at::indexing::Slice(0, 16)}, 1.0);  // a quarter of the rows
  torch::NoGradGuard no_grad;
  const at::Tensor map = model->forward(a, b, true, true).distance;
  const double inside = m::masked_lpips(model, a, b, mask, true), outside = m::masked_lpips(model, a, b, mask, false);
  EXPECT_NEAR(inside, map.slice(2, 0, 16).mean().item<double>(), 1e-6);
  EXPECT_NEAR(0.25 * inside + 0.75 * outside, map.mean().item<double>(), 1e-6);
  EXPECT_EQ(m::masked_lpips(model, a, a, mask, true), 0.0);
}
