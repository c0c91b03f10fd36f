// Library code the CLI's `merge` and `metrics stats --by-class` call: pooling shard records, and
// per-class statistics from class folders.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/fs.h"
#include "eval/experiment.h"
#include "eval/features.h"
#include "eval/merge.h"
#include "eval/record_store.h"
#include "metrics/stats_file.h"
#include "test_support.h"

namespace ev = diffedit::eval;
using diffedit::config::Json;
using diffedit::testing::ScratchDir;

namespace {

Json resolved_config(const std::string& name) {
  const Json c = {{"name", name},
                  {"model", "models/toy-sd"},
                  {"dataset", {{"name", "toy-imagenet"}, {"limit", 4}}},
                  {"methods", Json::array({{{"method", "sdedit"}}})}};
  return ev::experiment_schema().validate(c, "test");
}

// A shard directory as `run` leaves it: config.json, and a record with its image.
void make_shard(const std::filesystem::path& dir, const Json& config, const std::string& key, double lpips) {
  std::filesystem::create_directories(dir / "images");
  diffedit::fs::write_atomic(dir / "config.json", config.dump(1));
  diffedit::fs::write_atomic(dir / "images" / (key + ".png"), "png of " + key);
  ev::RecordStore(dir).put({{"key", key}, {"image", "images/" + key + ".png"}, {"metrics", {{"lpips", lpips}}}});
}

}  // namespace

TEST(Merge, PoolsShardRecordsWithTheirImages) {
  ScratchDir a, b, out;
  const Json c = resolved_config("merge-test");
  make_shard(a.path(), c, "k1", 0.1);
  make_shard(b.path(), c, "k2", 0.2);
  make_shard(b.path(), c, "k1", 0.1);  // an overlap that agrees is kept once
  const auto experiment = ev::merge_shards({a.path(), b.path()}, out / "merged");
  EXPECT_EQ(experiment.resolved, c);
  ev::RecordStore merged(out / "merged");
  merged.load();
  ASSERT_EQ(merged.records().size(), 2u);
  EXPECT_EQ(merged.records().at("k2")["metrics"]["lpips"], 0.2);
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "merged/images/k2.png"));
  EXPECT_EQ(diffedit::config::load_json(out / "merged/config.json"), c);
}

TEST(Merge, RefusesShardsThatDisagree) {
  ScratchDir a, b, c, out;
  make_shard(a.path(), resolved_config("merge-test"), "k1", 0.1);
  make_shard(b.path(), resolved_config("merge-test"), "k1", 0.3);
  try {
    ev::merge_shards({a.path(), b.path()}, out / "m1");
    ADD_FAILURE() << "overlapping records with different metrics were merged";
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("k1"), std::string::npos) << e.what();
  }
  make_shard(c.path(), resolved_config("another-experiment"), "k2", 0.1);
  try {
    ev::merge_shards({a.path(), c.path()}, out / "m2");
    ADD_FAILURE() << "shards of different experiments were merged";
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(c.path().string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out / "m2/records")) << "nothing is written when the configs differ";
  EXPECT_THROW(ev::merge_shards({out / "missing"}, out / "m3"), diffedit::FileError);
}

TEST(ClassStatistics, MeansPerClassKeepEmptyClassesAtTheirIds) {
  const at::Tensor features = at::tensor({1.0, 2.0, 3.0, 4.0, 10.0, 20.0}, at::kFloat).view({3, 2});
  const at::Tensor labels = at::tensor({0, 0, 2}, at::kLong);
  diffedit::metrics::StatsFile file;
  diffedit::metrics::set_class_statistics(file, features, labels, 3);
  EXPECT_TRUE(at::equal(file.class_counts, at::tensor({2.0, 0.0, 1.0}, at::kDouble)));
  EXPECT_TRUE(at::equal(file.class_means, at::tensor({2.0, 3.0, 0.0, 0.0, 10.0, 20.0}, at::kDouble).view({3, 2})));
  EXPECT_THROW(diffedit::metrics::set_class_statistics(file, features, labels, 2), diffedit::InputError);
}

TEST(ClassStatistics, ClassFoldersAreSortedAndEmptyOnesKeepTheirIds) {
  ScratchDir root;
  for (const char* f : {"b_cls/2.png", "b_cls/1.png", "a_cls/x.png", "c_cls/y.jpg"}) {
    std::filesystem::create_directories((root / f).parent_path());
    diffedit::fs::write_atomic(root / f, "image");
  }
  std::filesystem::create_directories(root / "a0_empty");
  const auto listed = ev::list_class_folders(root.path());
  EXPECT_EQ(listed.classes, 4);
  ASSERT_EQ(listed.images.size(), 4u);
  EXPECT_EQ(listed.images[0].filename(), "x.png");
  EXPECT_EQ(listed.images[1].filename(), "1.png");
  EXPECT_EQ(listed.labels, (std::vector<std::int64_t>{1, 2, 2, 3})) << "a0_empty is class 0 with no image";
  EXPECT_THROW(ev::list_class_folders(root / "b_cls/1.png"), diffedit::FileError);
  ScratchDir flat;
  EXPECT_THROW(ev::list_class_folders(flat.path()), diffedit::InputError);
}
