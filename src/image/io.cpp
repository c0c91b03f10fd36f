#include "image/io.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/round.h>

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/errors.h"
#include "core/fs.h"

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

void silence_opencv() {
  static const bool done = [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    return true;
  }();
  (void)done;
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
  silence_opencv();
  const std::filesystem::path path(source);
  const Info info = probe_bytes(bytes, path);
  if (info.width > 0 && static_cast<std::int64_t>(info.width) * info.height > options.max_pixels)
    fail(path, "image is " + std::to_string(info.width) + "x" + std::to_string(info.height) + ", more than the limit of " +
                   std::to_string(options.max_pixels) + " pixels (--max-image-pixels)");

  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(path, std::string("cannot decode image: ") + e.what());
  }
  if (decoded.empty())
    fail(path, info.format == "other" ? "not an image in a format OpenCV can read" : "cannot decode " + info.format + " data");
  if (static_cast<std::int64_t>(decoded.cols) * decoded.rows > options.max_pixels)
    fail(path, "image has more than the limit of " + std::to_string(options.max_pixels) + " pixels (--max-image-pixels)");

  double scale;
  switch (decoded.depth()) {
    case CV_8U: scale = 1.0 / 255.0; break;
    case CV_16U: scale = 1.0 / 65535.0; break;
    case CV_32F: scale = 1.0; break;
    default: fail(path, "unsupported sample type (depth code " + std::to_string(decoded.depth()) + ")");
  }
  cv::Mat image;
  decoded.convertTo(image, CV_32F, scale);

  // OpenCV orders colour channels B,G,R(,A); reorder to R,G,B(,A).
  int channels = image.channels();
  if (channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  if (channels == 4) cv::cvtColor(image, image, cv::COLOR_BGRA2RGBA);
  if (channels != 1 && channels != 3 && channels != 4) fail(path, "unsupported channel count " + std::to_string(channels));

  const bool has_alpha = channels == 4;
  std::vector<cv::Mat> planes;
  cv::split(image, planes);
  cv::Mat alpha;
  if (has_alpha) {
    alpha = planes.back();
    planes.pop_back();
    if (options.alpha == Alpha::reject) fail(path, "image has an alpha channel (alpha policy: reject)");
    if (options.alpha == Alpha::over_white || options.alpha == Alpha::over_black) {
      const double background = options.alpha == Alpha::over_white ? 1.0 : 0.0;
      for (auto& p : planes) {
        cv::Mat composite = p.mul(alpha) + (1.0 - alpha) * background;
        p = composite;
      }
    }
  }
  const bool is_gray = planes.size() == 1;
  if (options.color == Color::rgb && is_gray) planes = {planes[0], planes[0].clone(), planes[0].clone()};
  if (options.color == Color::gray && !is_gray) {
    cv::Mat luma = 0.299 * planes[0] + 0.587 * planes[1] + 0.114 * planes[2];
    planes = {luma};
  }
  if (has_alpha && options.alpha == Alpha::keep) planes.push_back(alpha);

  const auto c = static_cast<std::int64_t>(planes.size());
  const std::int64_t h = image.rows, w = image.cols;
  at::Tensor out = at::empty({c, h, w}, at::TensorOptions().dtype(c10::kFloat));
  for (std::int64_t k = 0; k < c; ++k) {
    cv::Mat target(static_cast<int>(h), static_cast<int>(w), CV_32F, out[k].data_ptr<float>());
    planes[static_cast<std::size_t>(k)].copyTo(target);
  }
  return out;
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
  const auto type = options.bit_depth == 8 ? c10::kByte : c10::kInt;  // uint16 is not a torch 1.13 dtype
  t = t.to(type).permute({1, 2, 0}).contiguous();                     // HWC

  const int h = static_cast<int>(t.size(0)), w = static_cast<int>(t.size(1)), c = static_cast<int>(t.size(2));
  cv::Mat hwc;
  if (options.bit_depth == 8) {
    hwc = cv::Mat(h, w, CV_MAKETYPE(CV_8U, c), t.data_ptr<std::uint8_t>()).clone();
  } else {
    cv::Mat(h, w, CV_MAKETYPE(CV_32S, c), t.data_ptr<std::int32_t>()).convertTo(hwc, CV_MAKETYPE(CV_16U, c));
  }
  if (c == 3) cv::cvtColor(hwc, hwc, cv::COLOR_RGB2BGR);
  if (c == 4) cv::cvtColor(hwc, hwc, cv::COLOR_RGBA2BGRA);

  std::vector<int> params;
  if (jpeg) params = {cv::IMWRITE_JPEG_QUALITY, options.jpeg_quality};
  std::vector<unsigned char> encoded;
  silence_opencv();
  if (!cv::imencode(png ? ".png" : ".jpg", hwc, encoded, params)) throw Error(source, "OpenCV could not encode the image");
  fs::write_atomic(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
}

}  // namespace diffedit::image
