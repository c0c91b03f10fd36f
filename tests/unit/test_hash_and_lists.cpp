// Pure helpers of the feature cache: SHA-256 of strings and files, and image lists (folders or
// text files of paths) as `metrics stats` and the runner read them.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/hash.h"
#include "eval/features.h"
#include "image/io.h"
#include "test_support.h"

namespace fs = std::filesystem;
using diffedit::testing::ScratchDir;

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(diffedit::hash::sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(diffedit::hash::sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ScratchDir dir;
  diffedit::testing::write_bytes(dir / "f", "abc");
  EXPECT_EQ(diffedit::hash::sha256_file(dir / "f"), diffedit::hash::sha256("abc"));
}

TEST(Features, ImageListsResolveRelativePathsAndComments) {
  ScratchDir dir;
  fs::create_directories(dir / "set");
  for (int i = 0; i < 3; ++i) diffedit::image::write(dir / "set" / ("img" + std::to_string(i) + ".png"), at::rand({3, 8, 8}));
  diffedit::testing::write_bytes(dir / "list.txt",
                                 "# three images\nset/img2.png\n\n  set/img0.png\n" + (dir / "set" / "img1.png").string() + "\n");
  const auto list = diffedit::eval::list_images(dir / "list.txt");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0], dir / "set" / "img2.png");
  EXPECT_EQ(list[1], dir / "set" / "img0.png");
  EXPECT_EQ(list[2], dir / "set" / "img1.png");
  fs::create_directories(dir / "empty");
  EXPECT_THROW(diffedit::eval::list_images(dir / "empty"), diffedit::InputError);
  EXPECT_THROW(diffedit::eval::list_images(dir / "nowhere"), diffedit::FileError);
  EXPECT_THROW(diffedit::eval::make_feature_net("inceptoin", dir / "w.safetensors"), diffedit::ConfigError);
}
