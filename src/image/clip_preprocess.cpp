#include "image/clip_preprocess.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/errors.h"
#include "image/resize.h"

namespace diffedit::image {

at::Tensor clip_resize_crop(const at::Tensor& image, std::int64_t n, CropOffset crop) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    throw InputError("clip preprocess", "expected a uint8 [H, W, 3] image");
  return resize_center_crop_u8(image, n, Filter::bicubic, crop);
}

at::Tensor clip_normalize(const at::Tensor& images01, const ClipPreprocess& o) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(images01.device());
  const at::Tensor mean = at::tensor(std::vector<float>(o.mean.begin(), o.mean.end()), options).view({3, 1, 1});
  const at::Tensor std = at::tensor(std::vector<float>(o.std.begin(), o.std.end()), options).view({3, 1, 1});
  return ((images01.to(at::kFloat) - mean) / std).contiguous();
}

at::Tensor clip_preprocess(const at::Tensor& image, const ClipPreprocess& o) {
  return clip_normalize(clip_resize_crop(image, o.size, o.crop).permute({2, 0, 1}).to(at::kFloat) / 255.0f, o);
}

}  // namespace diffedit::image
