// Feature networks by name, the feature cache and `diffedit metrics stats`.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn.h>

#include <fstream>

#include "core/errors.h"
#include "core/hash.h"
#include "data/toyworld.h"
#include "eval/features.h"
#include "image/io.h"
#include "metrics/lpips.h"
#include "metrics/stats_file.h"
#include "models/toy_classifier.h"
#include "test_support.h"

namespace {

using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;
namespace fs = std::filesystem;

fs::path classifier_dir() { return diffedit::testing::source_dir() / "models" / "toy-classifier"; }

// `n` toy-world test images as PNGs in `dir`; returns them as one batch.
at::Tensor write_world_images(const fs::path& dir, int n) {
  fs::create_directories(dir);
  std::vector<at::Tensor> images;
  for (int i = 0; i < n; ++i) {
    const auto item = diffedit::data::toyworld::generate("test", i);
    diffedit::image::write(dir / ("img" + std::to_string(i) + ".png"), item.image);
    images.push_back(diffedit::image::read(dir / ("img" + std::to_string(i) + ".png")));  // as quantised on disk
  }
  return at::stack(images);
}

TEST(Features, ToyClassifierFeaturesAreTheModelsPenultimateLayer) {
  ScratchDir dir;
  const at::Tensor images = write_world_images(dir / "set", 6);
  auto net = diffedit::eval::make_feature_net("toy-classifier", classifier_dir());
  EXPECT_EQ(net.weights_hash.size(), 64u);
  const auto run = diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "set"), {}, 4);
  auto model = diffedit::models::load_toy_classifier(classifier_dir());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::allclose(run.features, model->features(images), 1e-5, 1e-6));
  EXPECT_FALSE(run.from_cache);
}

TEST(Features, CacheHitsOnSameContentAndMissesOnChange) {
  ScratchDir dir;
  write_world_images(dir / "set", 5);
  auto net = diffedit::eval::make_feature_net("toy-classifier", classifier_dir());
  const fs::path cache = dir / "cache";
  const auto first = diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "set"), cache);
  ASSERT_FALSE(first.from_cache);
  ASSERT_TRUE(fs::exists(first.cache_entry));

  // Moved elsewhere: same contents, same order -> a hit with the same numbers.
  fs::rename(dir / "set", dir / "moved");
  const auto second = diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "moved"), cache);
  EXPECT_TRUE(second.from_cache);
  EXPECT_TRUE(at::equal(first.features, second.features));

  // One image changed -> a miss.
  diffedit::image::write(dir / "moved" / "img0.png", diffedit::data::toyworld::generate("test", 99).image);
  const auto third = diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "moved"), cache);
  EXPECT_FALSE(third.from_cache);
  EXPECT_NE(third.images_hash, first.images_hash);
  EXPECT_FALSE(at::equal(first.features, third.features));

  // A corrupt entry is ignored and rewritten, not trusted and not fatal.
  diffedit::testing::write_bytes(third.cache_entry, "not a safetensors file");
  const auto fourth = diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "moved"), cache);
  EXPECT_FALSE(fourth.from_cache);
  EXPECT_TRUE(at::equal(third.features, fourth.features));
  EXPECT_TRUE(diffedit::eval::image_features(net, diffedit::eval::list_images(dir / "moved"), cache).from_cache);
}

TEST(Cli, MetricsStatsWritesMeanCovarianceAndProvenance) {
  ScratchDir dir;
  const at::Tensor images = write_world_images(dir / "set", 8);
  const auto r = run_cli({"metrics", "stats", "--images", (dir / "set").string(), "--net", "toy-classifier", "--weights",
                          classifier_dir().string(), "--out", (dir / "s.h5").string(), "--cache", (dir / "cache").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = diffedit::metrics::read_stats(dir / "s.h5");
  auto model = diffedit::models::load_toy_classifier(classifier_dir());
  torch::NoGradGuard no_grad;
  const at::Tensor f = model->features(images).to(at::kDouble);
  EXPECT_EQ(s.stats.n, 8);
  EXPECT_TRUE(at::allclose(s.stats.mu, f.mean(0), 1e-6, 1e-7));
  const at::Tensor c = f - f.mean(0);
  EXPECT_TRUE(at::allclose(s.stats.sigma, c.t().matmul(c) / 7.0, 1e-5, 1e-7));
  EXPECT_EQ(s.feature_net, "toy-classifier");
  diffedit::hash::Sha256 h;
  for (const char* name : {"config.json", "model.safetensors"}) h.update(diffedit::hash::sha256_file(classifier_dir() / name) + "\n");
  EXPECT_EQ(s.weights_hash, h.hex());
  EXPECT_NE(s.preprocessing.find("32x32"), std::string::npos);

  // The second run reads the cache and writes the same statistics.
  const auto again = run_cli({"metrics", "stats", "--images", (dir / "set").string(), "--net", "toy-classifier", "--weights",
                              classifier_dir().string(), "--out", (dir / "t.h5").string(), "--cache", (dir / "cache").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("from the cache"), std::string::npos) << again.err;
  EXPECT_TRUE(at::equal(diffedit::metrics::read_stats(dir / "t.h5").stats.sigma, s.stats.sigma));
}

TEST(Cli, MetricsStatsRejectsBadInput) {
  ScratchDir dir;
  write_world_images(dir / "one", 1);
  const auto one = run_cli({"metrics", "stats", "--images", (dir / "one").string(), "--net", "toy-classifier", "--weights",
                            classifier_dir().string(), "--out", (dir / "s.h5").string(), "--no-cache"});
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_NE(one.err.find("at least 2 images"), std::string::npos) << one.err;
  EXPECT_FALSE(fs::exists(dir / "s.h5"));

  const auto unknown =
      run_cli({"metrics", "stats", "--images", (dir / "one").string(), "--net", "inceptoin", "--out", (dir / "s.h5").string()});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown feature network 'inceptoin'; known: inception-fid"), std::string::npos) << unknown.err;

  fs::create_directories(dir / "big");
  for (int i = 0; i < 2; ++i) diffedit::image::write(dir / "big" / (std::to_string(i) + ".png"), at::rand({3, 64, 64}));
  const auto big = run_cli({"metrics", "stats", "--images", (dir / "big").string(), "--net", "toy-classifier", "--weights",
                            classifier_dir().string(), "--out", (dir / "s.h5").string(), "--no-cache"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_NE(big.err.find("expects 32x32 images, got 64x64"), std::string::npos) << big.err;

  const auto no_weights =
      run_cli({"metrics", "stats", "--images", (dir / "big").string(), "--net", "inception-fid", "--out", (dir / "s.h5").string()});
  EXPECT_EQ(no_weights.exit_code, 2);
  EXPECT_NE(no_weights.err.find("needs --weights"), std::string::npos) << no_weights.err;
}

}  // namespace

namespace {
TEST(Features, ToyClassifierStagesGiveAnUnweightedLpips) {
  auto model = diffedit::models::load_toy_classifier(classifier_dir());
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> items;
  for (int i = 0; i < 3; ++i) items.push_back(diffedit::data::toyworld::generate("test", i).image);
  const at::Tensor x = at::stack(items);
  const auto stages = model->stages(x);
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_EQ(stages[0].sizes(), (std::vector<std::int64_t>{3, 32, 16, 16}));
  EXPECT_TRUE(at::allclose(stages.back().mean({2, 3}), model->features(x), 1e-5, 1e-6));

  const at::Tensor a = x.slice(0, 0, 1), b = x.slice(0, 1, 2);
  auto d = [&](const at::Tensor& p, const at::Tensor& q) {
    return diffedit::metrics::lpips_unweighted(model->stages(p), model->stages(q)).distance.item<double>();
  };
  EXPECT_EQ(d(a, a), 0.0);
  EXPECT_GT(d(a, b), 0.0);
  EXPECT_NEAR(d(a, b), d(b, a), 1e-7);
  const auto spatial = diffedit::metrics::lpips_unweighted(model->stages(a), model->stages(b), true, 32, 32);
  EXPECT_EQ(spatial.distance.sizes(), (std::vector<std::int64_t>{1, 1, 32, 32}));
  EXPECT_EQ(spatial.layers.size(), 3u);
}
}  // namespace
