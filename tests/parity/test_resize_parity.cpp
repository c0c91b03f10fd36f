// Resizing parity (fixture: metrics-v1/resize): Pillow 9.4's uint8 and float paths, torch's
// interpolate with and without antialias, up and down.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/safetensors.h"
#include "image/resize.h"
#include "test_support.h"

namespace m = diffedit::image;
using diffedit::testing::fixture;

namespace {
const diffedit::safetensors::File& file() {
  static const auto f = diffedit::safetensors::File::open(fixture("metrics-v1/resize/resize.safetensors"));
  return f;
}
}  // namespace

// README: PIL uint8 exact for a Pillow-exact implementation.
TEST(ResizeParity, PillowUint8IsExact) {
  const at::Tensor in = file().tensor("input_hwc_u8");
  for (const auto& [name, filter] : {std::pair{"bicubic", m::Filter::bicubic}, std::pair{"bilinear", m::Filter::bilinear}})
    for (const auto& [h, w] : {std::pair{171, 224}, std::pair{17, 23}}) {
      const std::string key = std::string("pil_") + name + "_" + std::to_string(w) + "x" + std::to_string(h) + "_u8";
      const at::Tensor out = m::pil_resize_u8(in, h, w, filter);
      EXPECT_TRUE(at::equal(out, file().tensor(key)))
          << key << ": max diff " << (out.to(at::kInt) - file().tensor(key).to(at::kInt)).abs().max().item<int>();
    }
}

// clean-fid's "PIL float" resizer: per channel Pillow "F" images; float32 after each pass, then
// clipped to [0, 255]. Tolerance 1e-3 on the 0..255 scale (double vs float accumulation order).
TEST(ResizeParity, PillowFloatMatchesCleanFid) {
  const at::Tensor in = file().tensor("input_hwc_u8").to(at::kFloat);
  std::vector<at::Tensor> channels;
  for (std::int64_t c = 0; c < 3; ++c) channels.push_back(m::pil_resize_float(in.select(2, c), 17, 23, m::Filter::bicubic).clamp(0, 255));
  const at::Tensor out = at::stack(channels, 2);
  EXPECT_LT((out - file().tensor("cleanfid_pil_float_bicubic_23x17")).abs().max().item<double>(), 1e-3);
}

// README: torch resize 1e-4 absolute on the 0..255 scale.
TEST(ResizeParity, TorchInterpolate) {
  const at::Tensor in = file().tensor("input_nchw_f32");
  for (const auto& [name, filter] : {std::pair{"bicubic", m::Filter::bicubic}, std::pair{"bilinear", m::Filter::bilinear}}) {
    for (const auto& [h, w] : {std::pair{171, 224}, std::pair{17, 23}}) {
      const std::string key = std::string("torch_") + name + "_" + std::to_string(w) + "x" + std::to_string(h);
      EXPECT_LT((m::torch_resize(in, h, w, filter) - file().tensor(key)).abs().max().item<double>(), 1e-4) << key;
    }
    const std::string aa = std::string("torch_") + name + "_aa_23x17";
    EXPECT_LT((m::torch_resize(in, 17, 23, filter, true) - file().tensor(aa)).abs().max().item<double>(), 1e-4) << aa;
  }
  EXPECT_THROW(m::pil_resize_u8(file().tensor("input_nchw_f32"), 4, 4, m::Filter::bicubic), diffedit::InputError);
}
