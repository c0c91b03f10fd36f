// Region metrics: masked MSE/PSNR conventions and mask IoU on hand-checkable cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
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
