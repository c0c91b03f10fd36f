// CLIP preprocessing parity with clip.py's transform (fixture: clip-v1/preprocess): the resized and
// centre-cropped uint8 image and the normalised pixel values, both exact.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "image/clip_preprocess.h"
#include "test_support.h"

namespace m = diffedit::image;
using diffedit::testing::fixture;

TEST(ClipPreprocessParity, CropAndPixelValuesAreExact) {
  const auto in = diffedit::safetensors::File::open(fixture("clip-v1/preprocess/inputs.safetensors"));
  const auto out = diffedit::safetensors::File::open(fixture("clip-v1/preprocess/outputs.safetensors"));
  for (int k = 0; k < 3; ++k) {
    const std::string name = "image_" + std::to_string(k);
    const at::Tensor image = in.tensor(name);
    const at::Tensor crop = m::clip_resize_crop(image, 224);
    EXPECT_TRUE(at::equal(crop, out.tensor(name + ".cropped_uint8")))
        << name << ": " << (crop.to(at::kInt) - out.tensor(name + ".cropped_uint8").to(at::kInt)).abs().max().item<int>();
    EXPECT_TRUE(at::equal(m::clip_preprocess(image), out.tensor(name + ".pixel_values"))) << name;
  }
}
