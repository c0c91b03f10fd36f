#include "editing/ilvr_resizer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "core/errors.h"

namespace diffedit::editing {

namespace {

double cubic(double x) {
  const double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0.0;
}

}  // namespace

ResizeContributions resize_contributions(std::int64_t in, double scale, bool antialias) {
  const auto out = static_cast<std::int64_t>(std::ceil(static_cast<double>(in) * scale));
  const bool stretch = antialias && scale < 1.0;
  const double kernel_width = stretch ? 4.0 / scale : 4.0;
  const auto taps = static_cast<std::int64_t>(std::ceil(kernel_width)) + 2;
  std::vector<std::vector<double>> w(static_cast<std::size_t>(out), std::vector<double>(static_cast<std::size_t>(taps)));
  std::vector<std::vector<std::int64_t>> fov(static_cast<std::size_t>(out), std::vector<std::int64_t>(static_cast<std::size_t>(taps)));
  for (std::int64_t o = 0; o < out; ++o) {
    // 1-based output coordinate, shifted so the image centre is preserved.
    const double shifted = static_cast<double>(o + 1) - (static_cast<double>(out) - static_cast<double>(in) * scale) / 2;
    const double match = shifted / scale + 0.5 * (1 - 1 / scale);
    const double left = std::floor(match - kernel_width / 2);
    double sum = 0;
    for (std::int64_t t = 0; t < taps; ++t) {
      const std::int64_t index = static_cast<std::int64_t>(left) + t - 1;
      const double arg = match - static_cast<double>(index) - 1;
      const double value = stretch ? scale * cubic(scale * arg) : cubic(arg);
      w[o][t] = value;
      sum += value;
      // Mirror table [0..in-1, in-1..0] indexed modulo 2*in.
      const std::int64_t period = 2 * in;
      const std::int64_t m = ((index % period) + period) % period;
      fov[o][t] = m < in ? m : period - 1 - m;
    }
    if (sum == 0) sum = 1;
    for (auto& v : w[o]) v /= sum;
  }
  std::vector<std::int64_t> kept;
  for (std::int64_t t = 0; t < taps; ++t)
    for (std::int64_t o = 0; o < out; ++o)
      if (w[o][t] != 0) {
        kept.push_back(t);
        break;
      }
  ResizeContributions c;
  c.weights = at::empty({static_cast<std::int64_t>(kept.size()), out}, at::kFloat);
  c.fov = at::empty({static_cast<std::int64_t>(kept.size()), out}, at::kLong);
  for (std::size_t k = 0; k < kept.size(); ++k)
    for (std::int64_t o = 0; o < out; ++o) {
      c.weights[static_cast<std::int64_t>(k)][o] = static_cast<float>(w[o][kept[k]]);
      c.fov[static_cast<std::int64_t>(k)][o] = fov[o][kept[k]];
    }
  return c;
}

at::Tensor matlab_resize(const at::Tensor& input, double scale) {
  if (input.dim() != 4) throw InputError("resize", "expected [B, C, H, W]");
  at::Tensor x = input;
  for (const std::int64_t dim : {2, 3}) {
    const auto c = resize_contributions(x.size(dim), scale);
    const std::int64_t taps = c.weights.size(0), out = c.weights.size(1);
    // As the reference: move `dim` first, gather [taps, out, ...], weight, sum over taps.
    const at::Tensor moved = x.transpose(dim, 0);
    at::Tensor gathered = moved.index_select(0, c.fov.flatten().to(x.device()));
    std::vector<std::int64_t> shape = {taps, out};
    for (std::int64_t d = 1; d < moved.dim(); ++d) shape.push_back(moved.size(d));
    gathered = gathered.view(shape);
    const at::Tensor w = c.weights.to(x.device(), x.scalar_type()).view({taps, out, 1, 1, 1});
    x = (gathered * w).sum(0).transpose(dim, 0);
  }
  return x;
}

at::Tensor ilvr_lowpass(const at::Tensor& x, std::int64_t factor) {
  if (factor < 1 || (factor & (factor - 1)) != 0) throw InputError("factor", "must be a power of 2");
  if (x.size(2) % factor != 0 || x.size(3) % factor != 0)
    throw InputError("factor", "the spatial size must be divisible by the ILVR factor " + std::to_string(factor));
  return matlab_resize(matlab_resize(x, 1.0 / static_cast<double>(factor)), static_cast<double>(factor));
}

}  // namespace diffedit::editing
