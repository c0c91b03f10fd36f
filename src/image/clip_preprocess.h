// CLIP's image preprocessing (OpenAI's clip.py transform, which Hugging Face's slow
// CLIPImageProcessor reproduces): resize the shorter side to n with Pillow's bicubic (the longer
// side to int(n * long / short), truncated), centre-crop n x n, then (u8 / 255 - mean) / std per
// channel in float32. The two differ only in the crop of an odd margin: clip.py (torchvision)
// rounds half the margin to even, transformers floors it (`crop`). transformers rescales in
// float64 (u8 * (1/255.0), then float32); that equals float32 u8 / 255 for every uint8 value
// (checked in test_piebench_metrics_parity.cpp), so one path serves both.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

#include "image/resize.h"

namespace diffedit::image {

struct ClipPreprocess {
  std::int64_t size = 224;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  CropOffset crop = CropOffset::round_half_even;  // floor: transformers' CLIPImageProcessor
};

// uint8 [H, W, 3] -> the resized and cropped uint8 [n, n, 3] (before normalisation).
at::Tensor clip_resize_crop(const at::Tensor& image_hwc_u8, std::int64_t size, CropOffset crop = CropOffset::round_half_even);
// uint8 [H, W, 3] -> pixel values float32 [3, n, n].
at::Tensor clip_preprocess(const at::Tensor& image_hwc_u8, const ClipPreprocess& options = {});
// (x - mean) / std per channel in float32 for images [.., 3, H, W] in [0, 1] (torchvision's Normalize).
at::Tensor clip_normalize(const at::Tensor& images01, const ClipPreprocess& options = {});

}  // namespace diffedit::image
