// Resizing that matches what the reference metrics do, chosen explicitly by each metric's
// preprocessing (the two families differ visibly):
//   PIL (Pillow's Image.resize): separable convolution with the filter's support stretched by the
//     downscale factor (antialiased when shrinking); bicubic is Keys a = -0.5; the horizontal pass
//     runs first, then the vertical one; for uint8 images, fixed-point coefficients (22 bits) with
//     rounding and clamping after each pass. Used by CLIP's preprocessing and clean-fid.
//   torch (F.interpolate, align_corners=False): fixed support, bicubic a = -0.75, border clamp, no
//     antialias unless asked. Used inside pytorch-fid's Inception (bilinear to 299).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace diffedit::image {

enum class Filter { bilinear, bicubic };

// uint8 [H, W, C] -> uint8 [height, width, C], as Pillow 9 for an 8-bit image ("RGB"/"L").
at::Tensor pil_resize_u8(const at::Tensor& image_hwc, std::int64_t height, std::int64_t width, Filter filter);
// float [H, W] (one channel, Pillow's "F" mode) -> float32 [height, width], as Pillow's 32-bit path
// (double accumulation, float32 storage after each pass).
at::Tensor pil_resize_float(const at::Tensor& image_hw, std::int64_t height, std::int64_t width, Filter filter);

// float [B, C, H, W] -> [B, C, height, width], as torch.nn.functional.interpolate(align_corners=False).
at::Tensor torch_resize(const at::Tensor& images, std::int64_t height, std::int64_t width, Filter filter, bool antialias = false);

// float [B, C, H, W] -> [B, C, height, width] in [0, 1]: scaled (torch_resize, antialiased when
// shrinking) until it covers height x width, then the centre crop, clamped. Differentiable.
at::Tensor torch_resize_cover_crop(const at::Tensor& images, std::int64_t height, std::int64_t width, Filter filter);

// How a centre crop places an odd margin: torchvision's CenterCrop rounds half the margin to even
// (Python's round), transformers' image processors floor it; e.g. a 339-wide image cropped to 224
// starts at column 58 under torchvision and 57 under transformers.
enum class CropOffset { round_half_even, floor };

// Resize(n) + CenterCrop(n) geometry of an h x w image: the shorter side becomes n, the longer
// int(n * long / short) (truncated, as both torchvision and transformers compute it), then the
// n x n window at (top, left).
struct ResizeCropBox {
  std::int64_t height = 0, width = 0;  // after the resize
  std::int64_t top = 0, left = 0;      // of the crop
};
ResizeCropBox resize_crop_box(std::int64_t h, std::int64_t w, std::int64_t n, CropOffset offset = CropOffset::round_half_even);

// A float image [3, H, W] in [0, 1] as the uint8 [H, W, 3] an 8-bit file of it holds (clamped,
// rounded half to even in float32): the input of the uint8 operations here and of the references'
// PIL pipelines.
at::Tensor to_u8_hwc(const at::Tensor& image_chw01);

// torchvision's Resize(n) + CenterCrop(n) on a PIL image (`offset` floor: transformers'): the
// shorter side becomes n with Pillow's `filter`, then the centre n x n. uint8 [H, W, 3] -> uint8
// [n, n, 3].
at::Tensor resize_center_crop_u8(const at::Tensor& image_hwc, std::int64_t n, Filter filter,
                                 CropOffset offset = CropOffset::round_half_even);
// The same for a float image [3, H, W] in [0, 1] as a file would hold it (rounded to uint8 first,
// as a PNG written and read back by PIL): -> float [3, n, n] in [0, 1].
at::Tensor resize_center_crop(const at::Tensor& image_chw01, std::int64_t n, Filter filter);

}  // namespace diffedit::image
