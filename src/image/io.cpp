// image/io.h, codec-independent: header probing, the pixel limit, the read options' policies,
// tensor <-> pixel conversion and errors naming the file. The codecs themselves are behind
// image/codec.h (OpenCV's, or libpng's and libjpeg's in the gpu-check build).
#include "image/io.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/round.h>
#include <ATen/ops/stack.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/errors.h"
#include "core/fs.h"
#include "image/codec.h"

namespace diffedit::image {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) { throw FormatError(path.string(), problem); }

const unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool is_png(const std::string& b) {
  return b.size() >= 8 && std::equal(kPngSignature, kPngSignature + 8, b.begin(),
                                     [](unsigned char x, char y) { return x == static_cast<unsigned char>(y); });
}
bool is_jpeg(const std::string& b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF && static_cast<unsigned char>(b[1]) == 0xD8 &&
         static_cast<unsigned char>(b[2]) == 0xFF;
}

std::uint32_t be32(const std::string& b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24) | (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8) | std::uint32_t(static_cast<unsigned char>(b[at + 3]));
}
std::uint32_t be16(const std::string& b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 8) | std::uint32_t(static_cast<unsigned char>(b[at + 1]));
}

// PNG: IHDR is the first chunk; a complete file ends with the IEND chunk.
Info probe_png(const std::string& b, const std::filesystem::path& path) {
  if (b.size() < 33 || b.compare(12, 4, "IHDR") != 0) fail(path, "truncated PNG: no complete IHDR chunk");
  Info info{"png", static_cast<int>(std::min<std::uint32_t>(be32(b, 16), INT32_MAX)),
            static_cast<int>(std::min<std::uint32_t>(be32(b, 20), INT32_MAX))};
  info.bit_depth = static_cast<unsigned char>(b[24]);
  const unsigned char colour_type = static_cast<unsigned char>(b[25]);  // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  info.channels = colour_type == 2 ? 3 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 1;
  info.palette = colour_type == 3;
  const std::size_t tail = b.size() >= 12 ? b.size() - 12 : 0;
  if (b.rfind("IEND", std::string::npos) == std::string::npos || b.rfind("IEND") < tail)
    fail(path, "truncated PNG: the file does not end with an IEND chunk");
  return info;
}

// JPEG: walk the marker segments up to the first start-of-frame for the dimensions; a complete
// file ends with the EOI marker (FF D9), possibly followed by padding.
Info probe_jpeg(const std::string& b, const std::filesystem::path& path) {
  Info info{"jpeg", 0, 0};
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (static_cast<unsigned char>(b[i]) != 0xFF) fail(path, "corrupt JPEG: bad marker before the frame header");
    const unsigned char marker = static_cast<unsigned char>(b[i + 1]);
    if (marker == 0xFF) {
      ++i;
      continue;
    }  // fill byte
    const std::uint32_t length = be16(b, i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 10 > b.size()) break;
      info.bit_depth = static_cast<unsigned char>(b[i + 4]);
      info.height = static_cast<int>(be16(b, i + 5));
      info.width = static_cast<int>(be16(b, i + 7));
      info.channels = static_cast<unsigned char>(b[i + 9]);
      break;
    }
    i += 2 + length;
  }
  if (info.width == 0 || info.height == 0) fail(path, "truncated JPEG: no frame header");
  std::size_t end = b.size();
  while (end > 0 && b[end - 1] == '\0') --end;  // some writers pad after EOI
  if (end < 2 || static_cast<unsigned char>(b[end - 2]) != 0xFF || static_cast<unsigned char>(b[end - 1]) != 0xD9)
    fail(path, "truncated JPEG: no end-of-image marker");
  return info;
}

Info probe_bytes(const std::string& bytes, const std::filesystem::path& path) {
  if (bytes.empty()) fail(path, "file is empty");
  if (is_png(bytes)) return probe_png(bytes, path);
  if (is_jpeg(bytes)) return probe_jpeg(bytes, path);
  return Info{"other", 0, 0};
}

// [C,H,W] float32 planes of the samples: v / 255 for 8-bit, v / 65535 for 16-bit (in float32, as
// OpenCV's convertTo computes it), float samples as stored.
at::Tensor to_planes(const codec::Pixels& px) {
  const std::int64_t c = px.channels, hw = static_cast<std::int64_t>(px.width) * px.height;
  at::Tensor planes = at::empty({c, px.height, px.width}, at::TensorOptions().dtype(c10::kFloat));
  float* dst = planes.data_ptr<float>();
  const auto unpack = [&](auto sample_type, float scale) {
    using T = decltype(sample_type);
    T v;
    for (std::int64_t i = 0; i < hw; ++i)
      for (std::int64_t k = 0; k < c; ++k) {
        std::memcpy(&v, px.data.data() + sizeof(T) * static_cast<std::size_t>(i * c + k), sizeof(T));
        dst[k * hw + i] = static_cast<float>(v) * scale;
      }
  };
  switch (px.sample) {
    case codec::Sample::u8: unpack(std::uint8_t{}, static_cast<float>(1.0 / 255.0)); break;
    case codec::Sample::u16: unpack(std::uint16_t{}, static_cast<float>(1.0 / 65535.0)); break;
    case codec::Sample::f32: unpack(float{}, 1.0f); break;
  }
  return planes;
}

// The alpha and colour policies give what OpenCV's matrix expressions `p.mul(alpha) + (1.0 - alpha)
// * background` and `0.299 * r + 0.587 * g + 0.114 * b` give on float planes, bit for bit, in both
// builds: the product in float, addWeighted in double with FMA, scaleAdd in float with FMA.
void composite(const at::Tensor& rgba, bool over_white) {
  const std::int64_t hw = rgba.size(1) * rgba.size(2);
  float* colour = rgba.data_ptr<float>();
  const float* alpha = colour + 3 * hw;
  for (float* plane = colour; plane != alpha; plane += hw)
    for (std::int64_t i = 0; i < hw; ++i) {
      const float covered = plane[i] * alpha[i];
      plane[i] = over_white ? static_cast<float>(static_cast<double>(covered) + (1.0 - static_cast<double>(alpha[i]))) : covered;
    }
}

at::Tensor luma(const at::Tensor& r, const at::Tensor& g, const at::Tensor& b) {
  at::Tensor out = at::empty_like(r);
  const float *pr = r.data_ptr<float>(), *pg = g.data_ptr<float>(), *pb = b.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const float kb = static_cast<float>(0.114);
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    const float rg = static_cast<float>(std::fma(static_cast<double>(pr[i]), 0.299, static_cast<double>(pg[i]) * 0.587));
    dst[i] = std::fma(pb[i], kb, rg);
  }
  return out;
}

std::int64_t g_default_max_pixels = std::int64_t{1} << 28;

}  // namespace

std::int64_t default_max_pixels() { return g_default_max_pixels; }
void set_default_max_pixels(std::int64_t pixels) {
  if (pixels < 1) throw InputError("--max-image-pixels", "must be at least 1");
  g_default_max_pixels = pixels;
}

Info probe(const std::filesystem::path& path) { return probe_bytes(fs::read_file(path), path); }

at::Tensor read(const std::filesystem::path& path, const ReadOptions& options) {
  return decode(fs::read_file(path), path.string(), options);
}

at::Tensor decode(const std::string& bytes, const std::string& source, const ReadOptions& options) {
  const std::filesystem::path path(source);
  const Info info = probe_bytes(bytes, path);
  if (info.width > 0 && static_cast<std::int64_t>(info.width) * info.height > options.max_pixels)
    fail(path, "image is " + std::to_string(info.width) + "x" + std::to_string(info.height) + ", more than the limit of " +
                   std::to_string(options.max_pixels) + " pixels (--max-image-pixels)");

  codec::Pixels px;
  try {
    px = codec::decode(bytes, info.format);
  } catch (const codec::CodecError& e) {
    fail(path, e.what());
  }
  if (static_cast<std::int64_t>(px.width) * px.height > options.max_pixels)
    fail(path, "image has more than the limit of " + std::to_string(options.max_pixels) + " pixels (--max-image-pixels)");
  const int channels = px.channels;
  if (channels != 1 && channels != 3 && channels != 4) fail(path, "unsupported channel count " + std::to_string(channels));
  at::Tensor planes = to_planes(px);

  const bool has_alpha = channels == 4;
  const int colours = has_alpha ? 3 : channels;
  if (has_alpha) {
    if (options.alpha == Alpha::reject) fail(path, "image has an alpha channel (alpha policy: reject)");
    if (options.alpha == Alpha::over_white || options.alpha == Alpha::over_black) composite(planes, options.alpha == Alpha::over_white);
  }
  const bool keep_alpha = has_alpha && options.alpha == Alpha::keep;
  const bool to_rgb = options.color == Color::rgb && colours == 1, to_gray = options.color == Color::gray && colours == 3;
  if (!to_rgb && !to_gray && (keep_alpha || !has_alpha)) return planes;
  std::vector<at::Tensor> out;
  if (to_rgb)
    out = {planes[0], planes[0], planes[0]};
  else if (to_gray)
    out = {luma(planes[0], planes[1], planes[2])};
  else
    out = {planes[0], planes[1], planes[2]};
  if (keep_alpha) out.push_back(planes[3]);
  return at::stack(out);
}

void write(const std::filesystem::path& path, const at::Tensor& input, const WriteOptions& options) {
  const std::string source = path.string();
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  const bool png = ext == ".png";
  const bool jpeg = ext == ".jpg" || ext == ".jpeg";
  if (!png && !jpeg) throw InputError(source, "unsupported image extension '" + ext + "' (use .png, .jpg or .jpeg)");
  if (options.bit_depth != 8 && options.bit_depth != 16) throw InputError(source, "bit depth must be 8 or 16");
  if (jpeg && options.bit_depth != 8) throw InputError(source, "JPEG supports 8-bit samples only");
  if (options.jpeg_quality < 0 || options.jpeg_quality > 100) throw InputError(source, "JPEG quality must be in 0..100");

  at::Tensor t = input.detach();
  if (t.dim() == 4 && t.size(0) == 1) t = t[0];
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3 && t.size(0) != 4))
    throw InputError(source, "expected an image tensor [C,H,W] with C in {1,3,4}, got shape " + c10::str(t.sizes()));
  if (t.size(1) == 0 || t.size(2) == 0) throw InputError(source, "image has no pixels");
  if (jpeg && t.size(0) == 4) throw InputError(source, "JPEG cannot store an alpha channel");
  const double levels = options.bit_depth == 8 ? 255.0 : 65535.0;
  t = at::round(t.to(c10::kCPU, c10::kDouble).clamp(0.0, 1.0).mul(levels));
  if (!t.isfinite().all().item<bool>()) throw InputError(source, "image contains NaN values");
  t = t.to(c10::kInt).permute({1, 2, 0}).contiguous();  // HWC levels (uint16 is not a torch 1.13 dtype)

  codec::Pixels px;
  px.height = static_cast<int>(t.size(0));
  px.width = static_cast<int>(t.size(1));
  px.channels = static_cast<int>(t.size(2));
  px.sample = options.bit_depth == 8 ? codec::Sample::u8 : codec::Sample::u16;
  const std::int32_t* level = t.data_ptr<std::int32_t>();
  const auto n = static_cast<std::size_t>(t.numel());
  px.data.resize(n * (options.bit_depth / 8));
  for (std::size_t i = 0; i < n; ++i) {
    if (options.bit_depth == 8) {
      px.data[i] = static_cast<std::uint8_t>(level[i]);
    } else {
      const auto v = static_cast<std::uint16_t>(level[i]);
      std::memcpy(px.data.data() + 2 * i, &v, 2);
    }
  }
  std::string encoded;
  try {
    encoded = codec::encode(px, png, options.jpeg_quality);
  } catch (const codec::CodecError& e) {
    throw Error(source, e.what());
  }
  fs::write_atomic(path, encoded);
}

}  // namespace diffedit::image
