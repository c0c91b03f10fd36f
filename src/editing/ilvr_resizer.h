// The MATLAB-style bicubic resizer of ILVR's code (a port of Shocher's imresize): separable Keys
// cubic (a = -0.5), antialiased when downscaling (kernel stretched by 1/scale), mirror padding,
// weights computed in float64 and applied in float32 as a sum over taps (H pass, then W pass).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace diffedit::editing {

struct ResizeContributions {
  at::Tensor weights;  // [taps, out] float32, each column sums to 1
  at::Tensor fov;      // [taps, out] int64 input indices (after mirror padding)
};

// 1-D contributions for resizing `in` samples to `out = ceil(in * scale)`; taps whose weight is
// zero for every output are dropped, as the reference does.
ResizeContributions resize_contributions(std::int64_t in, double scale, bool antialias = true);

// Resizes [B, C, H, W] by `scale` on both spatial dims (H then W).
at::Tensor matlab_resize(const at::Tensor& x, double scale);

// ILVR's low-pass filter: up(down(x)) with factor N.
at::Tensor ilvr_lowpass(const at::Tensor& x, std::int64_t factor);

}  // namespace diffedit::editing
