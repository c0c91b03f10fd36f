// The toy world: determinism, disjoint splits, and exact ground truth for captions, labels,
// instance masks and edits.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <set>

#include "core/errors.h"
#include "data/toyworld.h"

namespace tw = diffedit::data::toyworld;

TEST(ToyWorld, DeterministicPerSplitIndexAndSeed) {
  const auto a = tw::generate("test", 5, 0), b = tw::generate("test", 5, 0);
  EXPECT_TRUE(at::equal(a.image, b.image));
  EXPECT_EQ(a.caption, b.caption);
  EXPECT_TRUE(at::equal(a.edit.target_image, b.edit.target_image));
  EXPECT_FALSE(at::equal(tw::generate("test", 5, 1).image, a.image)) << "another world seed";
  EXPECT_FALSE(at::equal(tw::generate("test", 6, 0).image, a.image));
}

TEST(ToyWorld, BatchEqualsItemByItemOnAnyThreadCount) {
  // generate_batch renders items on several threads: the result must not depend on that. ctest
  // runs with one thread (OMP_NUM_THREADS=1), so ask for four here.
  const int threads = at::get_num_threads();
  at::set_num_threads(4);
  const auto batch = tw::generate_batch("train", 40, 9, 3);
  at::set_num_threads(threads);
  ASSERT_EQ(batch.size(), 9u);
  for (std::int64_t i = 0; i < 9; ++i) {
    const auto one = tw::generate("train", 40 + i, 3);
    const auto& b = batch[static_cast<std::size_t>(i)];
    EXPECT_EQ(b.index, 40 + i);
    EXPECT_TRUE(at::equal(b.image, one.image)) << i;
    EXPECT_EQ(b.caption, one.caption);
    EXPECT_EQ(b.label, one.label);
    EXPECT_TRUE(at::equal(b.edit.region, one.edit.region)) << i;
  }
  EXPECT_TRUE(tw::generate_batch("train", 0, 0).empty());
  EXPECT_THROW(tw::generate_batch("dev", 0, 4), diffedit::InputError) << "an error inside a worker reaches the caller";
}

TEST(ToyWorld, SplitsNeverShareSeeds) {
  std::set<std::uint64_t> seen;
  for (const char* split : {"train", "val", "test"})
    for (std::int64_t i = 0; i < 300; ++i) EXPECT_TRUE(seen.insert(tw::generate(split, i).seed).second) << split << "/" << i;
  EXPECT_THROW(tw::generate("dev", 0), diffedit::InputError);
}

TEST(ToyWorld, GroundTruthIsExact) {
  std::set<std::int64_t> labels;
  std::set<std::string> kinds;
  for (std::int64_t i = 0; i < 200; ++i) {
    const auto item = tw::generate("val", i);
    SCOPED_TRACE(item.caption);
    const std::int64_t n = item.image.size(1);
    EXPECT_EQ(item.image.sizes(), (at::IntArrayRef{3, n, n}));
    EXPECT_GE(item.image.min().item<float>(), 0.0f);
    EXPECT_LE(item.image.max().item<float>(), 1.0f);
    const auto& main = item.scene.objects[0];
    EXPECT_EQ(item.label, tw::class_of(main.shape, main.colour));
    EXPECT_EQ(tw::shape_of(item.label), main.shape);
    EXPECT_EQ(tw::colour_of(item.label), main.colour);
    EXPECT_EQ(tw::class_name(item.label), tw::colour_names()[main.colour] + " " + tw::shape_names()[main.shape]);
    EXPECT_EQ(item.caption.rfind(main.describe(), 0), 0u) << "the caption starts with the main object";
    labels.insert(item.label);

    // The main object is drawn last: fully visible, and its visible mask is its footprint.
    EXPECT_EQ(item.instance_masks.size(0), static_cast<std::int64_t>(item.scene.objects.size()));
    EXPECT_TRUE(at::equal(item.instance_masks[0], (tw::footprint(main) >= 0.5f).to(at::kFloat)));
    EXPECT_GT(item.instance_masks[0].sum().item<float>(), 10.0f);
    // Visible masks never overlap.
    EXPECT_LE(item.instance_masks.sum(0).max().item<float>(), 1.0f);
    // The main object is the largest, so the label is identifiable from the image.
    for (std::size_t k = 1; k < item.scene.objects.size(); ++k) EXPECT_LT(item.scene.objects[k].size, main.size);

    // The edit changes the main object only, and only inside the ground-truth region.
    const auto& e = item.edit;
    kinds.insert(e.kind);
    EXPECT_NE(e.source_label, e.target_label);
    EXPECT_EQ(e.target_label, tw::class_of(e.to.shape, e.to.colour));
    EXPECT_EQ(e.kind == "colour", e.from.shape == e.to.shape);
    EXPECT_EQ(e.kind == "shape", e.from.colour == e.to.colour);
    EXPECT_EQ(e.reference_caption, item.caption);
    EXPECT_EQ(e.query_caption.rfind(e.to.describe(), 0), 0u);
    EXPECT_EQ(e.query_class, tw::class_name(e.target_label));
    const at::Tensor outside = 1 - e.region;
    EXPECT_TRUE(at::equal(e.target_image * outside, item.image * outside)) << "nothing changes outside the region";
    EXPECT_GT((e.target_image - item.image).abs().sum().item<float>(), 1.0f) << "the edit is visible";
    EXPECT_TRUE(at::equal(e.region[0], ((tw::footprint(e.from) > 0) | (tw::footprint(e.to) > 0)).to(at::kFloat)));
  }
  EXPECT_GE(labels.size(), 40u) << "the classes are well covered";
  EXPECT_EQ(kinds, (std::set<std::string>{"colour", "shape", "both"}));
}

TEST(ToyWorld, CaptionsUseArticlesAndRelations) {
  tw::Object o;
  o.colour = 1;  // orange
  o.shape = 0;
  EXPECT_EQ(o.describe(), "an orange square");
  tw::Scene s;
  s.background.texture = 1;
  tw::Object a = o, b = o;
  a.cy = 8;
  b.cy = 24;  // lower in the image
  b.colour = 5;
  s.objects = {a, b};
  EXPECT_EQ(tw::caption_of(s), "an orange square above a blue square on a striped background");
}
