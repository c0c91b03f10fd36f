// The metric registry: every entry complete, the config schema and validation derived from it, and
// a summary aggregating records the way each value declares.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "eval/experiment.h"
#include "eval/metric_registry.h"
#include "eval/summary.h"

namespace {

using diffedit::config::Json;
using namespace diffedit::eval;

Json config_with_metrics(const Json& metrics) {
  return {{"name", "registry"},
          {"model", "m"},
          {"dataset", {{"name", "toy-imagenet"}, {"limit", 2}}},
          {"methods", Json::array({{{"method", "copy"}}})},
          {"metrics", metrics}};
}

Experiment experiment_with(const Json& metrics) {
  const Json config = experiment_schema().validate(config_with_metrics(metrics), "registry");
  return make_experiment(config, "registry");
}

}  // namespace

TEST(MetricRegistry, EveryEntryIsCompleteAndNamedOnce) {
  std::set<std::string> names, keys;
  for (const auto& m : metric_registry()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name << " declared twice";
    EXPECT_FALSE(m.doc.empty()) << m.name;
    EXPECT_FALSE(m.values.empty()) << m.name;
    if (m.kind == MetricKind::per_image) {
      EXPECT_TRUE(m.measure && !m.aggregate) << m.name;
    } else {
      EXPECT_TRUE(m.aggregate && !m.measure && m.needs.feature_net) << m.name;
    }
    for (const auto& v : m.values) {
      EXPECT_TRUE(keys.insert(v.key).second) << v.key << " written by two metrics";
      if (!v.summary_key.empty()) {
        EXPECT_TRUE(keys.insert(v.summary_key).second) << v.summary_key;
      }
      if (v.aggregate == Aggregate::psnr_of_mean) {
        EXPECT_EQ(v.better, Better::higher) << v.key;
      }
      if (v.axis != Axis::none) {
        EXPECT_NE(v.better, Better::neither) << v.key << ": an axis needs a direction";
      }
    }
  }
  EXPECT_THROW(find_metric("no-such-metric"), std::out_of_range);
  // Both trade-off axes have candidates, and the preferred ones are the toy world's ground truths.
  ASSERT_FALSE(axis_values(Axis::edit).empty());
  EXPECT_EQ(axis_values(Axis::edit).front().shown_as(), "edit_success");
  EXPECT_EQ(axis_values(Axis::fidelity).front().shown_as(), "unedited_psnr_db");
}

TEST(MetricRegistry, TheConfigAcceptsExactlyTheRegisteredNames) {
  for (const auto& name : metric_names(MetricKind::per_image))
    EXPECT_NO_THROW(experiment_schema().validate(
        config_with_metrics(
            {{"per_image", Json::array({name})}, {"lpips", {{"name", "n"}, {"weights", "w"}}}, {"clip_model", "c"}, {"classifier", "k"}}),
        "registry"))
        << name;
  EXPECT_THROW(experiment_schema().validate(config_with_metrics({{"per_image", Json::array({"fid"})}}), "registry"), diffedit::ConfigError)
      << "fid is a set metric";
  EXPECT_THROW(experiment_schema().validate(config_with_metrics({{"per_image", Json::array({"sharpness"})}}), "registry"),
               diffedit::ConfigError);
}

TEST(MetricRegistry, AMetricWithoutItsInputsIsRefusedNamingThem) {
  const auto message = [](const Json& metrics) {
    try {
      experiment_with(metrics);
    } catch (const diffedit::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({{"per_image", Json::array({"lpips"})}}).find("metrics.lpips"), std::string::npos);
  EXPECT_NE(message({{"per_image", Json::array({"clip_score"})}}).find("metrics.clip_model"), std::string::npos);
  EXPECT_NE(message({{"per_image", Json::array({"flexit_accuracy"})}}).find("metrics.classifier"), std::string::npos);
  EXPECT_NE(message({{"set", Json::array({"fid"})}}).find("metrics.feature_net"), std::string::npos);
  EXPECT_NE(message({{"set", Json::array({"kid"})}, {"feature_net", {{"name", "n"}, {"weights", "w"}}}, {"reference_stats", "s.h5"}})
                .find("reference images"),
            std::string::npos);
  EXPECT_EQ(message({{"per_image", Json::array({"mask_iou", "unedited_psnr"})}}), "accepted") << "ground truth comes with the dataset";
}

TEST(MetricRegistry, TheSummaryAggregatesEachValueAsDeclared) {
  const Experiment e = experiment_with({{"per_image", Json::array({"edit_success", "unedited_psnr"})}, {"classifier", "k"}});
  std::map<std::string, Json> records;
  const auto plan = plan_records(e);
  ASSERT_EQ(plan.size(), 2u);
  double i = 0;
  for (const auto& [key, planned] : plan) {
    records[key] = {{"status", "ok"},
                    {"denoiser_evaluations", 0},
                    {"shared", Json::array()},
                    {"metrics", {{"edit_success", i}, {"predicted_class", 7}, {"unedited_mse", i == 0 ? 1e-3 : 3e-3}, {"legacy", 2 * i}}}};
    ++i;
  }
  const Json m = summarize(e, records, ReferenceSet{})["metrics"]["copy"]["default"];
  EXPECT_DOUBLE_EQ(m["edit_success"].get<double>(), 0.5) << "a mean";
  EXPECT_NEAR(m["unedited_psnr_db"].get<double>(), -10 * std::log10(2e-3), 1e-9) << "the PSNR of the mean MSE";
  EXPECT_FALSE(m.contains("unedited_mse"));
  EXPECT_FALSE(m.contains("predicted_class")) << "kept in the records only";
  EXPECT_DOUBLE_EQ(m["legacy"].get<double>(), 1.0) << "a key no metric declares is averaged";
  EXPECT_EQ(m["n"], 2);
}
