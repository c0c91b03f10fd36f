// The toy edit datasets: what each puts in the query/reference, ground truth where it is known,
// the generator hook of toy-generated, and errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/toy_datasets.h"
#include "data/toyworld.h"

namespace d = diffedit::data;
namespace tw = diffedit::data::toyworld;

TEST(ToyDatasets, ImagenetUsesClassNamesCocoUsesCaptions) {
  const auto item = tw::generate("test", 3, 0);
  const auto in = d::make_toy_dataset("toy-imagenet", "test", 10)->get(3);
  EXPECT_EQ(in.id, "toy-imagenet/test/3");
  EXPECT_EQ(in.reference, "") << "the paper's ImageNet protocol: no reference text";
  EXPECT_EQ(in.source, item.edit.reference_class);
  EXPECT_EQ(in.query, item.edit.query_class);
  EXPECT_EQ(in.target_label, item.edit.target_label);
  EXPECT_TRUE(at::equal(in.image, item.image));
  EXPECT_TRUE(at::equal(in.region, item.edit.region));
  const auto co = d::make_toy_dataset("toy-coco", "test", 10)->get(3);
  EXPECT_EQ(co.reference, item.caption);
  EXPECT_EQ(co.query, item.edit.query_caption);
  EXPECT_TRUE(at::equal(co.target_image, item.edit.target_image));
}

TEST(ToyDatasets, ReferenceTextChoiceAsTheRealTwins) {
  const auto item = tw::generate("test", 3, 0);
  EXPECT_EQ(d::make_toy_dataset("toy-imagenet", "test", 10, 0, {}, {}, "source")->get(3).reference, item.edit.reference_class);
  EXPECT_EQ(d::make_toy_dataset("toy-imagenet", "test", 10, 0, {}, {}, "none")->get(3).reference, "");
  const auto co = d::make_toy_dataset("toy-coco", "test", 10, 0, {}, {}, "none")->get(3);
  EXPECT_EQ(co.reference, "");
  EXPECT_EQ(co.source, item.caption) << "FlexIT's source text stays the caption";
  EXPECT_THROW(d::make_toy_dataset("toy-imagenet", "test", 10, 0, {}, {}, "caption"), diffedit::InputError);
  EXPECT_THROW(d::make_toy_dataset("toy-coco", "test", 10, 0, {}, {}, "source"), diffedit::InputError);
}

TEST(ToyDatasets, GeneratedImagesComeFromTheModelWithoutGroundTruthRegion) {
  std::vector<std::pair<std::string, std::uint64_t>> calls;
  auto generator = [&](const std::string& prompt, std::uint64_t seed) {
    calls.emplace_back(prompt, seed);
    return at::full({3, 32, 32}, 0.25);
  };
  auto ds = d::make_toy_dataset("toy-generated", "val", 5, 0, generator);
  const auto s = ds->get(2);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, tw::generate("val", 2, 0).caption) << "generated from the item's caption";
  EXPECT_EQ(s.reference, calls[0].first);
  EXPECT_FALSE(s.region.defined());
  EXPECT_FALSE(s.target_image.defined());
  ds->get(2);
  EXPECT_EQ(calls[1].second, calls[0].second) << "the same item always gets the same seed";
  ds->get(3);
  EXPECT_NE(calls[2].second, calls[0].second);
}

TEST(ToyDatasets, Errors) {
  EXPECT_THROW(d::make_toy_dataset("toy-imagnet", "test", 1), diffedit::InputError);
  EXPECT_THROW(d::make_toy_dataset("toy-coco", "tset", 1), diffedit::InputError);
  EXPECT_THROW(d::make_toy_dataset("toy-generated", "test", 1), diffedit::InputError) << "needs a generator";
  EXPECT_THROW(d::make_toy_dataset("toy-coco", "test", 2)->get(2), diffedit::InputError);
}
