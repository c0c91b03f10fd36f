// The image codecs behind image/io.h, internal to diffedit_image: encoded bytes -> pixels and
// pixels -> encoded bytes, nothing else. Everything codec-independent (header probing, the pixel
// limit, ReadOptions, tensor <-> pixel conversion, errors naming the file) is io.cpp's. One backend
// implements this header, chosen in src/CMakeLists.txt: codec_opencv.cpp (OpenCV's imgcodecs; the
// main build) or codec_libpng.cpp (libpng and libjpeg; the -DDIFFEDIT_GPU_CHECK=ON build, which has
// no OpenCV). Both decode PNG and JPEG to the same pixels.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace diffedit::image::codec {

// A problem decoding or encoding; io.cpp makes its message the problem of an error naming the file.
struct CodecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Sample { u8, u16, f32 };

// Interleaved samples, row-major, channels in R,G,B(,A) order or gray; 16-bit and float samples in
// native byte order.
struct Pixels {
  int width = 0, height = 0, channels = 0;
  Sample sample = Sample::u8;
  std::vector<std::uint8_t> data;
};

// Decodes an encoded file as OpenCV's imdecode(IMREAD_UNCHANGED) does: samples as stored (8 or 16
// bits), no EXIF rotation, PNG palettes as RGB (RGBA with transparency), PNG gray + alpha as RGBA,
// JPEG as RGB or gray. `format` is what io.cpp's probe found: "png", "jpeg" or "other".
Pixels decode(const std::string& bytes, const std::string& format);

// Encodes u8 or u16 pixels with 1, 3 or 4 channels as PNG, or u8 pixels with 1 or 3 channels as
// JPEG at `jpeg_quality` (0..100), as OpenCV's imencode does with those parameters.
std::string encode(const Pixels& pixels, bool png, int jpeg_quality);

}  // namespace diffedit::image::codec
