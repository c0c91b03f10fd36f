// An experiment config's method_defaults: the parameters every setting of a method starts from,
// below the method's own parameters and grid.
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "eval/experiment.h"

namespace {

using diffedit::config::Json;
using namespace diffedit::eval;

Experiment experiment_with(const Json& method_defaults, const Json& methods) {
  const Json config = {{"name", "defaults"},
                       {"model", "m"},
                       {"dataset", {{"name", "toy-imagenet"}, {"limit", 1}}},
                       {"method_defaults", method_defaults},
                       {"methods", methods}};
  return make_experiment(experiment_schema().validate(config, "defaults.json"), "defaults.json");
}

}  // namespace

TEST(MethodDefaults, ApplyToEverySettingOfTheirMethodOnly) {
  const Json methods = Json::array({{{"method", "diffedit"}, {"grid", {{"strength", Json::array({0.5, 0.8})}}}},
                                    {{"method", "sdedit"}, {"grid", {{"strength", Json::array({0.5})}}}}});
  const Experiment e = experiment_with({{"diffedit", {{"mask_strength", 0.45}}}}, methods);
  ASSERT_EQ(e.settings.size(), 3u);
  for (const auto& s : e.settings) {
    if (s.method == "diffedit") {
      EXPECT_DOUBLE_EQ(s.parameters["mask_strength"].get<double>(), 0.45) << s.name;
    } else {
      EXPECT_FALSE(s.parameters.contains("mask_strength")) << s.name;
    }
  }
}

TEST(MethodDefaults, AMethodsParametersAndGridOverrideThem) {
  const Json methods = Json::array({{{"method", "diffedit"}, {"label", "fixed"}, {"parameters", {{"mask_strength", 0.3}}}},
                                    {{"method", "diffedit"}, {"label", "swept"}, {"grid", {{"mask_strength", Json::array({0.2})}}}}});
  const Experiment e = experiment_with({{"diffedit", {{"mask_strength", 0.45}, {"threshold", 0.6}}}}, methods);
  ASSERT_EQ(e.settings.size(), 2u);
  EXPECT_DOUBLE_EQ(e.settings[0].parameters["mask_strength"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(e.settings[1].parameters["mask_strength"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(e.settings[1].parameters["threshold"].get<double>(), 0.6) << "the other defaults still apply";
}

TEST(MethodDefaults, AParameterTheMethodLacksIsAConfigError) {
  const Json methods = Json::array({{{"method", "sdedit"}}});
  EXPECT_THROW(experiment_with({{"sdedit", {{"mask_strength", 0.45}}}}, methods), diffedit::ConfigError);
}
