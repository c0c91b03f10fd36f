// World presets: `full` draws exactly the world that existed before presets (fingerprints taken
// from that generator), `basic` draws only from its lists, and the JSON form round-trips and names
// its errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/errors.h"
#include "data/toy_datasets.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"

namespace tw = diffedit::data::toyworld;
using diffedit::config::Json;

namespace {
bool contains(const std::vector<std::int64_t>& v, std::int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
}  // namespace

TEST(ToyWorldPresets, FullIsTheWorldBeforePresets) {
  // (split, index) under world seed 3: image sum, target image sum, region pixels, target label,
  // caption, query caption, printed by the generator at d32cbe2 (before presets existed).
  struct Fingerprint {
    const char* split;
    std::int64_t index;
    double image, target, region;
    std::int64_t target_label;
    const char *caption, *query;
  };
  const std::vector<Fingerprint> expected = {
      {"train", 0, 1621.243164, 1630.805054, 140, 47, "a pink star left of a purple cross on a checkered background",
       "a pink ring left of a purple cross on a checkered background"},
      {"train", 123, 1785.039795, 1715.940918, 152, 51, "an orange diamond below a cyan square on a striped background",
       "a green diamond below a cyan square on a striped background"},
      {"test", 1, 1338.138428, 1305.194458, 141, 25, "a cyan circle below a blue triangle on a striped background",
       "an orange cross below a blue triangle on a striped background"},
      {"test", 7, 1811.195435, 1831.132935, 110, 44, "a purple ring on a plain background", "a cyan ring on a plain background"},
  };
  const tw::WorldSpec full = tw::preset("full");
  for (const auto& f : expected) {
    SCOPED_TRACE(std::string(f.split) + "/" + std::to_string(f.index));
    for (const auto& spec : {full, tw::WorldSpec{}}) {
      const auto item = tw::generate(f.split, f.index, 3, spec);
      EXPECT_EQ(item.world, "full");
      EXPECT_EQ(item.caption, f.caption);
      EXPECT_EQ(item.edit.query_caption, f.query);
      EXPECT_EQ(item.edit.target_label, f.target_label);
      EXPECT_NEAR(item.image.sum().item<double>(), f.image, 1e-3);
      EXPECT_NEAR(item.edit.target_image.sum().item<double>(), f.target, 1e-3);
      EXPECT_EQ(item.edit.region.sum().item<double>(), f.region);
    }
  }
}

TEST(ToyWorldPresets, BasicDrawsOnlyFromItsLists) {
  const tw::WorldSpec basic = tw::preset("basic");
  EXPECT_EQ(basic.preset, "basic");
  EXPECT_EQ(tw::classes(basic).size(), basic.shapes.size() * basic.colours.size());
  std::set<std::int64_t> shapes_seen, targets_seen, counts_seen;
  for (std::int64_t i = 0; i < 300; ++i) {
    const auto item = tw::generate("train", i, 0, basic);
    SCOPED_TRACE(item.caption);
    EXPECT_EQ(item.world, "basic");
    EXPECT_TRUE(contains(basic.backgrounds, item.scene.background.texture));
    const auto n = static_cast<std::int64_t>(item.scene.objects.size());
    EXPECT_GE(n, basic.min_objects);
    EXPECT_LE(n, basic.max_objects);
    counts_seen.insert(n);
    for (std::int64_t k = 0; k < n; ++k) {
      const auto& o = item.scene.objects[static_cast<std::size_t>(k)];
      EXPECT_TRUE(contains(basic.shapes, o.shape));
      EXPECT_TRUE(contains(basic.colours, o.colour));
      EXPECT_TRUE(contains(k == 0 ? basic.main_sizes : basic.other_sizes, o.size));
      EXPECT_EQ(o.angle, 0.0);
    }
    shapes_seen.insert(item.scene.objects[0].shape);
    EXPECT_TRUE(contains(tw::classes(basic), item.label));
    EXPECT_TRUE(contains(tw::classes(basic), item.edit.target_label));
    EXPECT_NE(item.edit.target_label, item.label);
    targets_seen.insert(tw::shape_of(item.edit.target_label));
  }
  EXPECT_EQ(shapes_seen.size(), basic.shapes.size());
  EXPECT_EQ(targets_seen.size(), basic.shapes.size());
  EXPECT_EQ(counts_seen, (std::set<std::int64_t>{1, 2}));
  // Dataset items carry the world they were drawn from.
  const auto dataset = diffedit::data::make_toy_dataset("toy-imagenet", "test", 3, 0, {}, basic);
  EXPECT_EQ(dataset->get(2).world, "basic");
  EXPECT_TRUE(at::equal(dataset->get(2).image, tw::generate("test", 2, 0, basic).image));
}

TEST(ToyWorldPresets, JsonFormRoundTripsAndMarksChangedPresets) {
  EXPECT_EQ(tw::world_from_json(Json("basic")).preset, "basic");
  EXPECT_EQ(tw::world_from_json(Json{{"preset", "full"}}).preset, "full");
  // Restating a preset's own value is no change.
  EXPECT_EQ(tw::world_from_json(Json{{"preset", "basic"}, {"max_objects", 2}}).preset, "basic");
  const tw::WorldSpec custom = tw::world_from_json(Json{{"preset", "basic"}, {"max_objects", 1}, {"shapes", {"ring", "star", "heart"}}});
  EXPECT_EQ(custom.preset, "custom");
  EXPECT_EQ(custom.max_objects, 1);
  EXPECT_EQ(custom.shapes, (std::vector<std::int64_t>{5, 4, 7}));
  EXPECT_EQ(custom.backgrounds, tw::preset("basic").backgrounds) << "unchanged keys keep the preset's values";
  for (const auto& spec : {tw::preset("basic"), tw::preset("full"), custom}) {
    const Json j = tw::world_to_json(spec);
    Json restated = j;
    if (spec.preset == "custom") restated["preset"] = "basic";  // a custom world is its preset plus every key
    const tw::WorldSpec back = tw::world_from_json(restated);
    EXPECT_EQ(tw::world_to_json(back).dump(), j.dump());
  }
}

TEST(ToyWorldPresets, BadWorldsAreConfigErrorsNamingTheKey) {
  const auto message = [](const Json& j) -> std::string {
    try {
      tw::world_from_json(j, "world");
    } catch (const diffedit::ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message(Json("simple")).find("unknown preset 'simple'"), std::string::npos);
  EXPECT_NE(message(Json{{"preset", "basic"}, {"shapes", {"square", "hexagon"}}}).find("hexagon"), std::string::npos);
  EXPECT_NE(message(Json{{"preset", "basic"}, {"shapes", {"square"}}}).find("shapes"), std::string::npos) << "a shape edit needs two";
  EXPECT_NE(message(Json{{"preset", "basic"}, {"colours", {"red", "red"}}}).find("twice"), std::string::npos);
  EXPECT_NE(message(Json{{"preset", "basic"}, {"other_sizes", {"large"}}}).find("other_sizes"), std::string::npos);
  EXPECT_NE(message(Json{{"preset", "basic"}, {"min_objects", 3}}).find("objects"), std::string::npos);
  EXPECT_NE(message(Json{{"preset", "basic"}, {"rotation", 1}}).find("rotation"), std::string::npos) << "unknown key";
  EXPECT_NE(message(Json(3)).find("preset name"), std::string::npos);
  EXPECT_THROW(tw::preset("simple"), diffedit::InputError);
  tw::WorldSpec bad;
  bad.colours = {};
  EXPECT_THROW(tw::generate("test", 0, 0, bad), diffedit::InputError);
}
