// Image I/O: exact round trips, RGB (not BGR) order checked against OpenCV directly, grayscale
// and alpha policies, and clear errors for missing, empty, truncated and non-image files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "core/errors.h"
#include "image/io.h"
#include "test_support.h"

namespace image = diffedit::image;
using diffedit::testing::read_bytes;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;

namespace {
std::string read_error(const std::filesystem::path& path, const image::ReadOptions& options = {}) {
  try {
    image::read(path, options);
  } catch (const diffedit::InputError& e) {
    EXPECT_EQ(e.source(), path.string());
    return e.problem();
  }
  ADD_FAILURE() << "reading " << path << " did not fail";
  return "";
}

at::Tensor quantised(std::int64_t c, std::int64_t h, std::int64_t w, double levels, std::uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(0, static_cast<std::int64_t>(levels) + 1, {c, h, w}, at::kDouble).div(levels).to(at::kFloat);
}
}  // namespace

TEST(ImageIO, Png8BitRoundTripIsExact) {
  ScratchDir dir;
  const at::Tensor img = quantised(3, 17, 23, 255, 1);
  image::write(dir / "a.png", img);
  const at::Tensor back = image::read(dir / "a.png");
  EXPECT_EQ(back.sizes(), img.sizes());
  EXPECT_EQ(back.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(back, img, 0, 1e-7));
}

TEST(ImageIO, Png16BitRoundTripIsExact) {
  ScratchDir dir;
  const at::Tensor img = quantised(3, 9, 11, 65535, 2);
  image::write(dir / "a16.png", img, {.bit_depth = 16});
  EXPECT_EQ(cv::imread((dir / "a16.png").string(), cv::IMREAD_UNCHANGED).depth(), CV_16U);
  EXPECT_TRUE(at::allclose(image::read(dir / "a16.png"), img, 0, 1e-7));
}

TEST(ImageIO, WriteRoundsToNearestLevelAndClamps) {
  ScratchDir dir;
  at::Tensor img = at::zeros({1, 1, 4});
  img[0][0][0] = -0.5f;            // clamped to 0
  img[0][0][1] = 1.7f;             // clamped to 1
  img[0][0][2] = 100.4f / 255.0f;  // rounds to 100
  img[0][0][3] = 100.6f / 255.0f;  // rounds to 101
  image::write(dir / "r.png", img);
  const cv::Mat m = cv::imread((dir / "r.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(m.channels(), 1);
  EXPECT_EQ(m.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(m.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(m.at<uint8_t>(0, 2), 100);
  EXPECT_EQ(m.at<uint8_t>(0, 3), 101);
}

TEST(ImageIO, ChannelsAreRgbNotBgr) {
  ScratchDir dir;
  cv::Mat red(2, 2, CV_8UC3, cv::Scalar(0, 0, 255));  // OpenCV is BGR: this is pure red
  cv::imwrite((dir / "red.png").string(), red);
  const at::Tensor t = image::read(dir / "red.png");
  EXPECT_FLOAT_EQ(t[0].mean().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(t[1].mean().item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(t[2].mean().item<float>(), 0.0f);
  // And our writer produces what OpenCV calls red.
  image::write(dir / "red2.png", t);
  const cv::Mat back = cv::imread((dir / "red2.png").string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(back.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));
}

TEST(ImageIO, GrayscalePolicies) {
  ScratchDir dir;
  cv::Mat gray(3, 4, CV_8UC1, cv::Scalar(51));
  cv::imwrite((dir / "g.png").string(), gray);
  const at::Tensor rgb = image::read(dir / "g.png");
  EXPECT_EQ(rgb.sizes(), (at::IntArrayRef{3, 3, 4}));
  EXPECT_TRUE(at::allclose(rgb, at::full({3, 3, 4}, 51.0f / 255.0f)));
  EXPECT_EQ(image::read(dir / "g.png", {.color = image::Color::keep}).size(0), 1);

  cv::Mat colour(1, 1, CV_8UC3, cv::Scalar(255, 0, 0));  // pure blue
  cv::imwrite((dir / "b.png").string(), colour);
  const at::Tensor luma = image::read(dir / "b.png", {.color = image::Color::gray});
  EXPECT_EQ(luma.size(0), 1);
  EXPECT_NEAR(luma.item<float>(), 0.114f, 1e-6);
}

TEST(ImageIO, AlphaPolicies) {
  ScratchDir dir;
  cv::Mat rgba(1, 1, CV_8UC4, cv::Scalar(0, 0, 255, 51));  // red, alpha 0.2
  cv::imwrite((dir / "a.png").string(), rgba);
  const auto path = dir / "a.png";
  const at::Tensor dropped = image::read(path);
  EXPECT_EQ(dropped.size(0), 3);
  EXPECT_FLOAT_EQ(dropped[0].item<float>(), 1.0f);
  const at::Tensor kept = image::read(path, {.alpha = image::Alpha::keep});
  EXPECT_EQ(kept.size(0), 4);
  EXPECT_FLOAT_EQ(kept[3].item<float>(), 0.2f);
  const at::Tensor white = image::read(path, {.alpha = image::Alpha::over_white});
  EXPECT_NEAR(white[0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(white[1].item<float>(), 0.8f, 1e-6);
  const at::Tensor black = image::read(path, {.alpha = image::Alpha::over_black});
  EXPECT_NEAR(black[0].item<float>(), 0.2f, 1e-6);
  EXPECT_NEAR(black[1].item<float>(), 0.0f, 1e-6);
  EXPECT_EQ(read_error(path, {.alpha = image::Alpha::reject}), "image has an alpha channel (alpha policy: reject)");
  // RGBA round trip through our writer.
  image::write(dir / "k.png", kept);
  EXPECT_TRUE(at::allclose(image::read(dir / "k.png", {.alpha = image::Alpha::keep}), kept));
}

TEST(ImageIO, JpegRoundTripIsClose) {
  ScratchDir dir;
  const at::Tensor smooth = at::linspace(0, 1, 32).view({1, 1, 32}).expand({3, 32, 32}).contiguous();
  image::write(dir / "s.jpg", smooth, {.jpeg_quality = 95});
  const at::Tensor back = image::read(dir / "s.jpg");
  EXPECT_EQ(back.sizes(), smooth.sizes());
  EXPECT_LT((back - smooth).abs().mean().item<float>(), 0.02f);
  EXPECT_EQ(image::probe(dir / "s.jpg").format, "jpeg");
  EXPECT_EQ(image::probe(dir / "s.jpg").width, 32);
  EXPECT_EQ(image::probe(dir / "s.jpg").channels, 3);
  EXPECT_EQ(image::probe(dir / "s.jpg").bit_depth, 8);
}

TEST(ImageIO, ProbeReportsTheStoredSampleLayout) {
  ScratchDir dir;
  image::write(dir / "g.png", at::rand({1, 4, 4}));
  image::write(dir / "a.png", at::rand({4, 4, 4}));
  image::write(dir / "d.png", at::rand({3, 4, 4}), {.bit_depth = 16});
  image::write(dir / "g.jpg", at::rand({1, 4, 4}));
  EXPECT_EQ(image::probe(dir / "g.png").channels, 1);
  EXPECT_EQ(image::probe(dir / "a.png").channels, 4);
  EXPECT_EQ(image::probe(dir / "d.png").channels, 3);
  EXPECT_EQ(image::probe(dir / "d.png").bit_depth, 16);
  EXPECT_FALSE(image::probe(dir / "d.png").palette);
  EXPECT_EQ(image::probe(dir / "g.jpg").channels, 1);
}

TEST(ImageIO, ReadErrors) {
  ScratchDir dir;
  EXPECT_EQ(read_error(dir / "missing.png"), "no such file");
  write_bytes(dir / "empty.png", "");
  EXPECT_EQ(read_error(dir / "empty.png"), "file is empty");
  write_bytes(dir / "text.png", "this is not an image at all\n");
  EXPECT_EQ(read_error(dir / "text.png"), "not an image in a format OpenCV can read");

  image::write(dir / "ok.png", quantised(3, 32, 32, 255, 3));
  const std::string png = read_bytes(dir / "ok.png");
  write_bytes(dir / "cut.png", png.substr(0, png.size() / 2));
  EXPECT_EQ(read_error(dir / "cut.png"), "truncated PNG: the file does not end with an IEND chunk");
  write_bytes(dir / "stub.png", png.substr(0, 20));
  EXPECT_EQ(read_error(dir / "stub.png"), "truncated PNG: no complete IHDR chunk");

  image::write(dir / "ok.jpg", quantised(3, 32, 32, 255, 4));
  const std::string jpg = read_bytes(dir / "ok.jpg");
  write_bytes(dir / "cut.jpg", jpg.substr(0, jpg.size() * 2 / 3));
  EXPECT_EQ(read_error(dir / "cut.jpg"), "truncated JPEG: no end-of-image marker");

  // A PNG header announcing 100000 x 100000 pixels is refused before any decoding.
  std::string huge = png;
  const unsigned char dims[8] = {0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0};
  huge.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  write_bytes(dir / "huge.png", huge);
  EXPECT_EQ(read_error(dir / "huge.png"), "image is 100000x100000, more than the limit of 268435456 pixels (--max-image-pixels)");
}

TEST(ImageIO, WriteErrors) {
  ScratchDir dir;
  auto write_problem = [&](const std::string& name, const at::Tensor& t, image::WriteOptions o = {}) {
    try {
      image::write(dir / name, t, o);
    } catch (const diffedit::InputError& e) {
      return e.problem();
    }
    return std::string("no error");
  };
  EXPECT_EQ(write_problem("a.bmp", at::zeros({3, 2, 2})), "unsupported image extension '.bmp' (use .png, .jpg or .jpeg)");
  EXPECT_EQ(write_problem("a.png", at::zeros({2, 2})), "expected an image tensor [C,H,W] with C in {1,3,4}, got shape [2, 2]");
  EXPECT_EQ(write_problem("a.png", at::zeros({5, 2, 2})), "expected an image tensor [C,H,W] with C in {1,3,4}, got shape [5, 2, 2]");
  EXPECT_EQ(write_problem("a.jpg", at::zeros({3, 2, 2}), {.bit_depth = 16}), "JPEG supports 8-bit samples only");
  EXPECT_EQ(write_problem("a.jpg", at::zeros({4, 2, 2})), "JPEG cannot store an alpha channel");
  EXPECT_EQ(write_problem("a.png", at::full({3, 2, 2}, NAN)), "image contains NaN values");
  EXPECT_FALSE(std::filesystem::exists(dir / "a.png"));
  EXPECT_EQ(write_problem("b.png", at::zeros({1, 3, 2, 2})), "no error") << "a batch of one is accepted";
}
