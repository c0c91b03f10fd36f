#include "metrics/region.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "core/errors.h"

namespace diffedit::metrics {

namespace {
at::Tensor binary(const at::Tensor& m) { return (m.to(at::kFloat) > 0.5).to(at::kFloat); }
}  // namespace

double masked_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region) {
  if (a.sizes() != b.sizes()) throw InputError("masked_mse", "images of different shapes");
  if (a.size(-1) != mask.size(-1) || a.size(-2) != mask.size(-2))
    throw InputError("masked_mse", "mask size differs from the image size");
  at::Tensor m = binary(mask);
  if (region == Region::outside) m = 1 - m;
  while (m.dim() < a.dim()) m = m.unsqueeze(0);
  m = m.expand_as(a);
  const double n = m.sum().item<double>();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const at::Tensor d = a.to(at::kDouble) - b.to(at::kDouble);
  return (d * d * m).sum().item<double>() / n;
}

double psnr_from_mse(double mse) {
  if (std::isnan(mse)) return mse;
  if (mse <= 0) return kMaxPsnrDb;
  return std::min(kMaxPsnrDb, 10.0 * std::log10(1.0 / mse));
}

double masked_psnr(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region) {
  return psnr_from_mse(masked_mse(a, b, mask, region));
}

double mask_iou(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() != b.numel()) throw InputError("mask_iou", "masks of different sizes");
  const at::Tensor x = binary(a).reshape(-1), y = binary(b).reshape(-1);
  const double uni = at::maximum(x, y).sum().item<double>();
  if (uni == 0) return 1.0;
  return (x * y).sum().item<double>() / uni;
}

}  // namespace diffedit::metrics
