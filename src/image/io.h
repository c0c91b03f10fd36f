// Image files <-> float tensors [C,H,W] in [0,1], channels in RGB(A) order (never BGR).
//
// Reading decodes without EXIF rotation (as PIL's Image.open does) and maps 8-bit values by /255
// and 16-bit values by /65535. Grayscale and alpha are handled by explicit policies.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace diffedit::image {

enum class Color {
  rgb,   // 3 channels; grayscale is replicated (default)
  gray,  // 1 channel; colour is converted with ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B)
  keep,  // as stored: 1 (gray) or 3 (RGB) channels
};

enum class Alpha {
  drop,        // discard the alpha channel (what PIL's convert("RGB") does; default)
  over_white,  // composite onto a white background
  over_black,  // composite onto a black background
  keep,        // keep it as a 4th (or 2nd, for gray) channel
  reject,      // an image with alpha is an error
};

// The process-wide default of ReadOptions::max_pixels (2^28; `diffedit --max-image-pixels`).
std::int64_t default_max_pixels();
void set_default_max_pixels(std::int64_t pixels);

struct ReadOptions {
  Color color = Color::rgb;
  Alpha alpha = Alpha::drop;
  std::int64_t max_pixels = default_max_pixels();  // refuse larger images before decoding
};

struct Info {
  std::string format;  // "png", "jpeg" or "other"
  int width = 0, height = 0;
  int channels = 0;      // samples per pixel as stored (PNG palette: 1, JPEG: components); 0 for "other"
  int bit_depth = 0;     // bits per sample as stored; 0 for "other"
  bool palette = false;  // PNG colour type 3: the samples index a palette
};

// Reads an image. FileError if missing; FormatError if empty, truncated, not an image, too large
// or rejected by the alpha policy. The result is float32, contiguous, on the CPU.
at::Tensor read(const std::filesystem::path& path, const ReadOptions& options = {});

// The same from the bytes of an encoded file; `source` names it in error messages.
at::Tensor decode(const std::string& bytes, const std::string& source, const ReadOptions& options = {});

// Identifies the format, dimensions and stored sample layout from the header bytes only (PNG and JPEG).
Info probe(const std::filesystem::path& path);

struct WriteOptions {
  int bit_depth = 8;      // 8 or 16 (PNG only)
  int jpeg_quality = 95;  // 0..100
};

// Writes [C,H,W] (C = 1, 3 or 4) or [1,C,H,W] float values in [0,1] (clamped) to PNG or JPEG,
// chosen by the extension; values are rounded to the nearest level (round half to even, like
// torch/numpy). Written atomically. InputError for bad shapes, options or extensions.
void write(const std::filesystem::path& path, const at::Tensor& image, const WriteOptions& options = {});

}  // namespace diffedit::image
