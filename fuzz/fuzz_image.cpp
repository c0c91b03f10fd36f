// Fuzz target: the image decoder (format probing, size limits, OpenCV's decoders, channel and
// alpha handling) on arbitrary bytes, under every colour policy. A decoded image must be a
// float [C,H,W] tensor with values in [0,1] and the channel count the policy promises.
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "core/errors.h"
#include "fuzz_check.h"
#include "image/io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace image = diffedit::image;
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  image::ReadOptions options;
  options.max_pixels = 1 << 20;  // keep each run small, as a configured limit would
  // The input's length picks the policies (the bytes must stay a valid file), so one corpus
  // covers all of them.
  options.color = static_cast<image::Color>(size % 3);
  options.alpha = static_cast<image::Alpha>((size / 3) % 5);
  try {
    const at::Tensor t = image::decode(bytes, "fuzz.img", options);
    FUZZ_CHECK(t.dim() == 3 && t.scalar_type() == at::kFloat && t.is_contiguous());
    FUZZ_CHECK(t.size(1) * t.size(2) <= options.max_pixels);
    const auto c = t.size(0);
    if (options.color == image::Color::rgb) FUZZ_CHECK(c == 3 || (c == 4 && options.alpha == image::Alpha::keep));
    if (options.color == image::Color::gray) FUZZ_CHECK(c == 1 || (c == 2 && options.alpha == image::Alpha::keep));
    FUZZ_CHECK(c >= 1 && c <= 4);
    if (t.numel() > 0) {
      FUZZ_CHECK(t.min().item<float>() >= 0.0f);
      FUZZ_CHECK(t.max().item<float>() <= 1.0f);
    }
  } catch (const diffedit::InputError&) {
  }
  return 0;
}
