#include "metrics/clip_preprocess.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/errors.h"
#include "metrics/resize.h"

namespace diffedit::metrics {

namespace {
// Python's round() of x / 2 for an integer x: half to even.
std::int64_t half_round_even(std::int64_t twice) {
  const std::int64_t q = twice / 2;
  if (twice % 2 == 0) return q;
  return q % 2 == 0 ? q : q + 1;  // x.5 -> the even neighbour (twice >= 0 here)
}
}  // namespace

at::Tensor clip_resize_crop(const at::Tensor& image, std::int64_t n) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    throw InputError("clip preprocess", "expected a uint8 [H, W, 3] image");
  const std::int64_t h = image.size(0), w = image.size(1);
  std::int64_t rh = n, rw = n;
  // torchvision Resize(int): the shorter side becomes n, the other int(n * long / short).
  if (w < h) rh = static_cast<std::int64_t>(static_cast<double>(n) * static_cast<double>(h) / static_cast<double>(w));
  else if (h < w) rw = static_cast<std::int64_t>(static_cast<double>(n) * static_cast<double>(w) / static_cast<double>(h));
  const at::Tensor resized = (rh == h && rw == w) ? image : pil_resize_u8(image, rh, rw, Filter::bicubic);
  const std::int64_t top = half_round_even(rh - n), left = half_round_even(rw - n);
  return resized.slice(0, top, top + n).slice(1, left, left + n).contiguous();
}

at::Tensor clip_normalize(const at::Tensor& images01, const ClipPreprocess& o) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(images01.device());
  const at::Tensor mean = at::tensor(std::vector<float>(o.mean.begin(), o.mean.end()), options).view({3, 1, 1});
  const at::Tensor std = at::tensor(std::vector<float>(o.std.begin(), o.std.end()), options).view({3, 1, 1});
  return ((images01.to(at::kFloat) - mean) / std).contiguous();
}

at::Tensor clip_preprocess(const at::Tensor& image, const ClipPreprocess& o) {
  return clip_normalize(clip_resize_crop(image, o.size).permute({2, 0, 1}).to(at::kFloat) / 255.0f, o);
}

}  // namespace diffedit::metrics
