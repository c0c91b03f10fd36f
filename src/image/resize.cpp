#include "image/resize.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/errors.h"

namespace diffedit::image {

namespace {
// Pillow's filters (Resample.c), with their supports.
double bilinear(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output index: the first input index and the normalised weights (Pillow's precompute_coeffs).
struct Coefficients {
  std::vector<std::int64_t> first;
  std::vector<std::vector<double>> weights;
};

Coefficients coefficients(std::int64_t in_size, std::int64_t out_size, Filter filter) {
  const double support_1 = filter == Filter::bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(1.0, scale);
  const double support = support_1 * filterscale;
  const double ss = 1.0 / filterscale;
  Coefficients c;
  for (std::int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    std::int64_t xmin = static_cast<std::int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    std::int64_t xmax = static_cast<std::int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    std::vector<double> w(static_cast<std::size_t>(xmax - xmin));
    double total = 0.0;
    for (std::int64_t x = 0; x < xmax - xmin; ++x) {
      const double arg = (static_cast<double>(x + xmin) - center + 0.5) * ss;
      w[static_cast<std::size_t>(x)] = filter == Filter::bicubic ? bicubic(arg) : bilinear(arg);
      total += w[static_cast<std::size_t>(x)];
    }
    if (total != 0.0)
      for (auto& v : w) v /= total;
    c.first.push_back(xmin);
    c.weights.push_back(std::move(w));
  }
  return c;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's normalize_coeffs_8bpc: round half away from zero to 22-bit fixed point.
std::vector<std::vector<std::int32_t>> fixed_point(const Coefficients& c) {
  std::vector<std::vector<std::int32_t>> out;
  for (const auto& w : c.weights) {
    std::vector<std::int32_t> k;
    for (const double v : w)
      k.push_back(static_cast<std::int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits)));
    out.push_back(std::move(k));
  }
  return out;
}

std::uint8_t clip8(std::int64_t v) {
  if (v >= (std::int64_t{1} << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<std::uint8_t>(v >> kPrecisionBits);
}

// One 8-bit pass along `axis` (1 = width, 0 = height) of a [H, W, C] uint8 image.
at::Tensor pass_u8(const at::Tensor& in, std::int64_t out_size, Filter filter, int axis) {
  const std::int64_t h = in.size(0), w = in.size(1), ch = in.size(2);
  const std::int64_t in_size = axis == 1 ? w : h;
  const auto c = coefficients(in_size, out_size, filter);
  const auto k = fixed_point(c);
  at::Tensor out =
      at::empty(axis == 1 ? std::vector<std::int64_t>{h, out_size, ch} : std::vector<std::int64_t>{out_size, w, ch}, at::kByte);
  const std::uint8_t* src = in.data_ptr<std::uint8_t>();
  std::uint8_t* dst = out.data_ptr<std::uint8_t>();
  const std::int64_t lines = axis == 1 ? h : w;
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t o = 0; o < out_size; ++o)
      for (std::int64_t cc = 0; cc < ch; ++cc) {
        std::int64_t acc = std::int64_t{1} << (kPrecisionBits - 1);
        const auto& kk = k[static_cast<std::size_t>(o)];
        for (std::size_t t = 0; t < kk.size(); ++t) {
          const std::int64_t i = c.first[static_cast<std::size_t>(o)] + static_cast<std::int64_t>(t);
          const std::int64_t idx = axis == 1 ? (line * w + i) * ch + cc : (i * w + line) * ch + cc;
          acc += static_cast<std::int64_t>(src[idx]) * kk[t];
        }
        const std::int64_t out_idx = axis == 1 ? (line * out_size + o) * ch + cc : (o * w + line) * ch + cc;
        dst[out_idx] = clip8(acc);
      }
  return out;
}

// One float pass (Pillow's 32-bit path: double accumulation, float32 result) of a [H, W] image.
at::Tensor pass_float(const at::Tensor& in, std::int64_t out_size, Filter filter, int axis) {
  const std::int64_t h = in.size(0), w = in.size(1);
  const auto c = coefficients(axis == 1 ? w : h, out_size, filter);
  at::Tensor out = at::empty(axis == 1 ? std::vector<std::int64_t>{h, out_size} : std::vector<std::int64_t>{out_size, w}, at::kFloat);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const std::int64_t lines = axis == 1 ? h : w;
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t o = 0; o < out_size; ++o) {
      double acc = 0.0;
      const auto& kk = c.weights[static_cast<std::size_t>(o)];
      for (std::size_t t = 0; t < kk.size(); ++t) {
        const std::int64_t i = c.first[static_cast<std::size_t>(o)] + static_cast<std::int64_t>(t);
        acc += static_cast<double>(src[axis == 1 ? line * w + i : i * w + line]) * kk[t];
      }
      dst[axis == 1 ? line * out_size + o : o * w + line] = static_cast<float>(acc);
    }
  return out;
}

void check_size(std::int64_t height, std::int64_t width) {
  if (height < 1 || width < 1) throw InputError("resize", "target size must be positive");
}
}  // namespace

at::Tensor pil_resize_u8(const at::Tensor& image_hwc, std::int64_t height, std::int64_t width, Filter filter) {
  check_size(height, width);
  if (image_hwc.dim() != 3 || image_hwc.scalar_type() != at::kByte) throw InputError("resize", "expected a uint8 [H, W, C] image");
  at::Tensor x = image_hwc.contiguous();
  // Pillow: horizontal pass first (when the width changes), then vertical (when the height changes).
  if (width != x.size(1)) x = pass_u8(x, width, filter, 1);
  if (height != x.size(0)) x = pass_u8(x, height, filter, 0);
  return x.contiguous();
}

at::Tensor pil_resize_float(const at::Tensor& image_hw, std::int64_t height, std::int64_t width, Filter filter) {
  check_size(height, width);
  if (image_hw.dim() != 2) throw InputError("resize", "expected a one-channel [H, W] image");
  at::Tensor x = image_hw.to(at::kFloat).contiguous();
  if (width != x.size(1)) x = pass_float(x, width, filter, 1);
  if (height != x.size(0)) x = pass_float(x, height, filter, 0);
  return x.contiguous();
}

at::Tensor torch_resize(const at::Tensor& images, std::int64_t height, std::int64_t width, Filter filter, bool antialias) {
  check_size(height, width);
  if (images.dim() != 4) throw InputError("resize", "expected [B, C, H, W] images");
  const std::vector<std::int64_t> size = {height, width};
  if (filter == Filter::bilinear)
    return antialias ? at::_upsample_bilinear2d_aa(images, size, false) : at::upsample_bilinear2d(images, size, false);
  return antialias ? at::_upsample_bicubic2d_aa(images, size, false) : at::upsample_bicubic2d(images, size, false);
}

at::Tensor torch_resize_cover_crop(const at::Tensor& images, std::int64_t height, std::int64_t width, Filter filter) {
  const std::int64_t h = images.size(2), w = images.size(3);
  if (h == height && w == width) return images;
  const double k = std::max(static_cast<double>(height) / static_cast<double>(h), static_cast<double>(width) / static_cast<double>(w));
  const std::int64_t nh = std::max(height, static_cast<std::int64_t>(std::llround(static_cast<double>(h) * k)));
  const std::int64_t nw = std::max(width, static_cast<std::int64_t>(std::llround(static_cast<double>(w) * k)));
  const at::Tensor r = torch_resize(images, nh, nw, filter, k < 1.0);
  const std::int64_t top = (nh - height) / 2, left = (nw - width) / 2;
  return r.slice(2, top, top + height).slice(3, left, left + width).clamp(0, 1);
}

namespace {
// Python's round() of x / 2 for an integer x: half to even.
std::int64_t half_round_even(std::int64_t twice) {
  const std::int64_t q = twice / 2;
  if (twice % 2 == 0) return q;
  return q % 2 == 0 ? q : q + 1;  // x.5 -> the even neighbour (twice >= 0 here)
}
}  // namespace

ResizeCropBox resize_crop_box(std::int64_t h, std::int64_t w, std::int64_t n, CropOffset offset) {
  ResizeCropBox box{n, n, 0, 0};
  // The shorter side becomes n, the other int(n * long / short).
  if (w < h)
    box.height = static_cast<std::int64_t>(static_cast<double>(n) * static_cast<double>(h) / static_cast<double>(w));
  else if (h < w)
    box.width = static_cast<std::int64_t>(static_cast<double>(n) * static_cast<double>(w) / static_cast<double>(h));
  const auto place = [offset](std::int64_t margin) { return offset == CropOffset::floor ? margin / 2 : half_round_even(margin); };
  box.top = place(box.height - n);
  box.left = place(box.width - n);
  return box;
}

at::Tensor resize_center_crop_u8(const at::Tensor& image, std::int64_t n, Filter filter, CropOffset offset) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    throw InputError("resize", "expected a uint8 [H, W, 3] image");
  const std::int64_t h = image.size(0), w = image.size(1);
  const ResizeCropBox box = resize_crop_box(h, w, n, offset);
  const at::Tensor resized = (box.height == h && box.width == w) ? image : pil_resize_u8(image, box.height, box.width, filter);
  return resized.slice(0, box.top, box.top + n).slice(1, box.left, box.left + n).contiguous();
}

at::Tensor to_u8_hwc(const at::Tensor& image_chw01) {
  return (image_chw01.clamp(0, 1) * 255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
}

at::Tensor resize_center_crop(const at::Tensor& image_chw01, std::int64_t n, Filter filter) {
  return resize_center_crop_u8(to_u8_hwc(image_chw01), n, filter).permute({2, 0, 1}).to(at::kFloat).div(255);
}

}  // namespace diffedit::image
