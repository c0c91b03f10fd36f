// Metrics of an edit restricted to a region: MSE, PSNR, SSIM and LPIPS inside or outside a mask,
// the IoU of two masks, and edit success. Conventions (stated because published numbers differ on
// them): images are [.., C, H, W] in [0, 1]; a mask is [.., 1, H, W] (or [H, W]) and is binarised
// at 0.5; a masked value is the mean of a per-pixel map over the selected pixels (of all channels
// for MSE and SSIM); PSNR = 10 log10(1 / MSE) (peak 1), capped at `kMaxPsnrDb` when the MSE is 0.
// SSIM is Wang et al. (2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, data
// range 1, population (not sample) statistics, and reflect padding so the map has a value at
// every pixel (needed to restrict it to a mask); over a whole image its mean equals
// skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=1) except within 5 pixels of the border, which skimage crops.
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

// The SSIM map [.., C, H, W] of two images of the same shape (float64).
at::Tensor ssim_map(const at::Tensor& a, const at::Tensor& b);
double masked_ssim(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region);
// Mean over the region's pixels (and every leading channel) of a per-pixel map [.., H, W]; NaN
// when the region is empty.
double masked_mean(const at::Tensor& map, const at::Tensor& mask, Region region);

// |A n B| / |A u B| of two masks of the same size (binarised at 0.5); 1 when both are empty.
double mask_iou(const at::Tensor& a, const at::Tensor& b);

// Edit success of a classifier's verdict on edited images: logits [B, K], target classes [B].
struct EditSuccess {
  double target_probability = 0;  // mean softmax probability of the target class
  double top1 = 0;                // fraction classified as the target class
};
EditSuccess edit_success(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace diffedit::metrics
