// core/config_keys.h: a struct's keys written once give its schema, its reader and its writer.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/config_keys.h"
#include "core/errors.h"
#include "diffusion/scheduler_config.h"

namespace {

using diffedit::config::Json;
using diffedit::config::Schema;

enum class Colour { red, blue };

struct Sample {
  std::int64_t count = 3;
  std::vector<std::int64_t> sizes{1};
  std::optional<double> scale;
  Colour colour = Colour::red;
  std::int64_t twice = 0;  // filled by a custom reader
};

const auto& sample_keys() {
  static const diffedit::config::EnumNames<Colour> colours = {{Colour::red, "red"}, {Colour::blue, "blue"}};
  static const auto table = std::tuple{
      diffedit::config::key("count", &Sample::count, Schema::integer().range(1, std::nullopt)),
      diffedit::config::key("sizes", &Sample::sizes, Schema::array(Schema::integer())),
      diffedit::config::key("scale", &Sample::scale, Schema::number().nullable()),
      diffedit::config::enum_key("colour", &Sample::colour, colours),
      diffedit::config::key("twice", &Sample::twice, Schema::integer(),
                            [](const Json& v, Sample& s, const std::string&) { s.twice = 2 * v.get<std::int64_t>() + s.count; }),
  };
  return table;
}

Sample read(const Json& j) {
  const Schema schema = diffedit::config::object_schema(sample_keys(), {{"_ignored", Schema::any()}});
  return diffedit::config::read_keys<Sample>(schema.validate(j, "sample.json"), sample_keys(), "sample.json");
}

}  // namespace

TEST(ConfigKeys, AbsentOrNullKeysKeepTheDefaults) {
  const Sample s = read({{"scale", nullptr}, {"_ignored", 1}});
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.sizes, std::vector<std::int64_t>{1});
  EXPECT_FALSE(s.scale.has_value());
  EXPECT_EQ(s.colour, Colour::red);
}

TEST(ConfigKeys, EveryKeyIsReadIntoItsMemberInTableOrder) {
  const Sample s = read({{"count", 5}, {"sizes", {4, 8}}, {"scale", 0.5}, {"colour", "blue"}, {"twice", 10}});
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.sizes, (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(s.scale, 0.5);
  EXPECT_EQ(s.colour, Colour::blue);
  EXPECT_EQ(s.twice, 25) << "the custom reader sees the members read before it";
}

TEST(ConfigKeys, TheSchemaComesFromTheTable) {
  EXPECT_THROW(read({{"count", 0}}), diffedit::ConfigError) << "the key's range";
  EXPECT_THROW(read({{"colour", "green"}}), diffedit::ConfigError) << "the enum's names are the choices";
  EXPECT_THROW(read({{"cuont", 2}}), diffedit::ConfigError) << "a key outside the table";
}

TEST(ConfigKeys, WritingThenReadingGivesTheSameStruct) {
  const Sample s = read({{"count", 7}, {"sizes", Json::array({2})}, {"scale", 1.5}, {"colour", "blue"}});
  const Json j = diffedit::config::write_keys(s, sample_keys());
  EXPECT_EQ(j["colour"], "blue");
  const Sample back = read(j);
  EXPECT_EQ(back.count, 7);
  EXPECT_EQ(back.scale, 1.5);
  EXPECT_EQ(back.colour, Colour::blue);
}

TEST(ConfigKeys, TheSchedulerConfigRoundTripsThroughItsTable) {
  namespace dd = diffedit::diffusion;
  const auto c = dd::SchedulerConfig::from_json(
      {{"prediction_type", "v_prediction"}, {"timestep_spacing", "trailing"}, {"variance_type", "fixed_large"}, {"steps_offset", 1}},
      "scheduler_config.json");
  EXPECT_EQ(c.prediction_type, dd::PredictionType::v_prediction);
  EXPECT_EQ(c.variance_type, dd::VarianceType::fixed_large);
  const auto back = dd::SchedulerConfig::from_json(c.to_json(), "round trip");
  EXPECT_EQ(back.timestep_spacing, dd::TimestepSpacing::trailing);
  EXPECT_EQ(back.variance_type, dd::VarianceType::fixed_large);
  EXPECT_EQ(back.steps_offset, 1);
  EXPECT_EQ(dd::to_string(back.prediction_type), "v_prediction");
  EXPECT_THROW(dd::SchedulerConfig::from_json({{"variance_type", "learned"}}, "s.json"), diffedit::ConfigError);
}
