// image/codec.h on OpenCV's imgcodecs (the main build).
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/codec.h"

namespace diffedit::image::codec {

namespace {

void silence_opencv() {
  static const bool done = [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    return true;
  }();
  (void)done;
}

}  // namespace

Pixels decode(const std::string& bytes, const std::string& format) {
  silence_opencv();
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw CodecError(std::string("cannot decode image: ") + e.what());
  }
  if (decoded.empty())
    throw CodecError(format == "other" ? "not an image in a format OpenCV can read" : "cannot decode " + format + " data");

  Pixels px;
  px.width = decoded.cols;
  px.height = decoded.rows;
  px.channels = decoded.channels();
  switch (decoded.depth()) {
    case CV_8U: px.sample = Sample::u8; break;
    case CV_16U: px.sample = Sample::u16; break;
    case CV_32F: px.sample = Sample::f32; break;
    default: throw CodecError("unsupported sample type (depth code " + std::to_string(decoded.depth()) + ")");
  }
  px.data.resize(decoded.total() * decoded.elemSize());
  // OpenCV orders colour channels B,G,R(,A); reorder to R,G,B(,A) straight into the pixels.
  cv::Mat rgb(decoded.rows, decoded.cols, decoded.type(), px.data.data());
  if (px.channels == 3) {
    cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  } else if (px.channels == 4) {
    cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGBA);
  } else {
    decoded.copyTo(rgb);
  }
  if (rgb.data != px.data.data()) throw CodecError("OpenCV reallocated the pixel buffer");
  return px;
}

std::string encode(const Pixels& px, bool png, int jpeg_quality) {
  const int depth = px.sample == Sample::u8 ? CV_8U : CV_16U;
  const cv::Mat rgb(px.height, px.width, CV_MAKETYPE(depth, px.channels), const_cast<std::uint8_t*>(px.data.data()));
  cv::Mat bgr;  // a new matrix: the pixels are read-only
  if (px.channels == 3) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  } else if (px.channels == 4) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGBA2BGRA);
  } else {
    bgr = rgb;
  }

  std::vector<int> params;
  if (!png) params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  std::vector<unsigned char> encoded;
  silence_opencv();
  if (!cv::imencode(png ? ".png" : ".jpg", bgr, encoded, params)) throw CodecError("OpenCV could not encode the image");
  return std::string(reinterpret_cast<const char*>(encoded.data()), encoded.size());
}

}  // namespace diffedit::image::codec
