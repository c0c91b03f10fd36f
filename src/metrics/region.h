// Metrics of an edit restricted to a region: mean squared error and PSNR inside or outside a
// mask, and the IoU of two masks. Conventions (stated because published numbers differ on them):
// images are [.., C, H, W] in [0, 1]; a mask is [.., 1, H, W] (or [H, W]) and is binarised at 0.5;
// the masked MSE is the mean over the selected pixels of all channels; PSNR = 10 log10(1 / MSE)
// (peak 1), capped at `kMaxPsnrDb` when the MSE is 0.
#pragma once

#include <ATen/core/Tensor.h>

namespace diffedit::metrics {

inline constexpr double kMaxPsnrDb = 100.0;

enum class Region { inside, outside };

// Mean squared error over the pixels inside (or outside) `mask`; NaN when the region is empty.
double masked_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region);
// PSNR in dB of an MSE (peak 1), capped at kMaxPsnrDb.
double psnr_from_mse(double mse);
double masked_psnr(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region);

// |A n B| / |A u B| of two masks of the same size (binarised at 0.5); 1 when both are empty.
double mask_iou(const at::Tensor& a, const at::Tensor& b);

}  // namespace diffedit::metrics
