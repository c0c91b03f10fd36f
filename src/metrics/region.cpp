#include "metrics/region.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "core/errors.h"

namespace diffedit::metrics {

namespace {
at::Tensor binary(const at::Tensor& m) { return (m.to(at::kFloat) > 0.5).to(at::kFloat); }
}  // namespace

double masked_mean(const at::Tensor& map, const at::Tensor& mask, Region region) {
  if (map.size(-1) != mask.size(-1) || map.size(-2) != mask.size(-2)) throw InputError("mask", "mask size differs from the image size");
  at::Tensor m = binary(mask);
  if (region == Region::outside) m = 1 - m;
  while (m.dim() < map.dim()) m = m.unsqueeze(0);
  m = m.expand_as(map);
  const double n = m.sum().item<double>();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  return (map.to(at::kDouble) * m).sum().item<double>() / n;
}

double masked_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region) {
  if (a.sizes() != b.sizes()) throw InputError("masked_mse", "images of different shapes");
  const at::Tensor d = a.to(at::kDouble) - b.to(at::kDouble);
  return masked_mean(d * d, mask, region);
}

at::Tensor ssim_map(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes() || a.dim() < 2) throw InputError("ssim", "images of different shapes");
  const std::int64_t h = a.size(-2), w = a.size(-1);
  if (h < 6 || w < 6) throw InputError("ssim", "images smaller than 6x6 cannot be reflect-padded for the 11x11 window");
  // Separable 11-tap Gaussian (sigma 1.5), normalised to sum 1.
  const at::Tensor x = at::arange(-5, 6, at::kDouble);
  at::Tensor g = at::exp(-x * x / (2 * 1.5 * 1.5));
  g = g / g.sum();
  auto filter = [&](const at::Tensor& t) {  // t [N, 1, H, W] -> same size (reflect padding)
    const at::Tensor p = at::reflection_pad2d(t, {5, 5, 5, 5});
    return at::conv2d(at::conv2d(p, g.view({1, 1, 11, 1})), g.view({1, 1, 1, 11}));
  };
  const at::Tensor x1 = a.to(at::kDouble).reshape({-1, 1, h, w}), y1 = b.to(at::kDouble).reshape({-1, 1, h, w});
  const at::Tensor mx = filter(x1), my = filter(y1);
  const at::Tensor vx = filter(x1 * x1) - mx * mx, vy = filter(y1 * y1) - my * my, cxy = filter(x1 * y1) - mx * my;
  constexpr double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const at::Tensor s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
  return s.reshape(a.sizes());
}

double masked_ssim(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, Region region) {
  return masked_mean(ssim_map(a, b), mask, region);
}

EditSuccess edit_success(const at::Tensor& logits, const at::Tensor& targets) {
  if (logits.dim() != 2 || targets.dim() != 1 || logits.size(0) != targets.size(0))
    throw InputError("edit_success", "expects logits [B, K] and targets [B]");
  const at::Tensor t = targets.to(at::kLong).to(logits.device());
  const at::Tensor p = at::softmax(logits.to(at::kDouble), 1).gather(1, t.unsqueeze(1));
  return {p.mean().item<double>(), (logits.argmax(1) == t).to(at::kDouble).mean().item<double>()};
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
