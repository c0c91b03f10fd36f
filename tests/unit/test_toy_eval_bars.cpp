// The pure parts of `diffedit toy-eval`: the dominance test of its sweep, the noise level of its
// retention diagnostic, and the edit bars read off an experiment's records.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "data/toyworld.h"
#include "diffusion/schedulers.h"
#include "eval/experiment.h"
#include "eval/toy_eval.h"
#include "test_support.h"

using diffedit::eval::TradeoffPoint;
using diffedit::testing::source_dir;

TEST(ToyEval, DominanceFollowsTheUpperLeftFrontier) {
  const std::vector<TradeoffPoint> a = {{0.3, 0.2, 35}, {0.7, 0.6, 30}};
  // Matched or beaten point by point.
  EXPECT_TRUE(diffedit::eval::dominates(a, {{0.3, 0.1, 30}, {0.7, 0.6, 25}}));
  // Below the segment joining a's points (at success 0.4, a's frontier is at 32.5 dB).
  EXPECT_TRUE(diffedit::eval::dominates(a, {{0.5, 0.4, 32}}));
  EXPECT_FALSE(diffedit::eval::dominates(a, {{0.5, 0.4, 33}}));
  // More success than any point of a.
  EXPECT_FALSE(diffedit::eval::dominates(a, {{0.9, 0.7, 10}}));
  EXPECT_FALSE(diffedit::eval::dominates({}, {{0.5, 0.0, 0}}));
}

TEST(ToyEval, StrengthForSigmaStartsAtTheNoisiestLevelNotAbove) {
  const auto scheduler = diffedit::diffusion::SchedulerConfig::from_json(
      diffedit::config::load_json(source_dir() / "models" / "toy-sd" / "scheduler" / "scheduler_config.json"), "toy-sd scheduler");
  diffedit::diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(50);
  const auto& grid = ddim.timesteps();
  const at::Tensor alpha_bar = ddim.schedule().alphas_cumprod.to(at::kDouble);
  auto sigma_at = [&](std::int64_t t) {
    const double a = alpha_bar[t].item<double>();
    return std::sqrt((1 - a) / a);
  };
  for (const double sigma : {0.5, 1.0, 2.0}) {
    const auto s = diffedit::eval::strength_for_sigma(scheduler, 50, sigma);
    ASSERT_GT(s.timestep, 0) << sigma;
    EXPECT_LE(sigma_at(s.timestep), sigma);
    const auto at_level = std::find(grid.begin(), grid.end(), s.timestep);
    ASSERT_NE(at_level, grid.end());
    ASSERT_NE(at_level, grid.begin());
    EXPECT_GT(sigma_at(*(at_level - 1)), sigma) << "the next noisier grid level is above sigma";
    // SDEdit at that strength starts exactly there.
    EXPECT_EQ(diffedit::diffusion::truncate_timesteps(grid, s.strength).denoise.front(), s.timestep) << sigma;
  }
  const auto none = diffedit::eval::strength_for_sigma(scheduler, 50, 1e-4);
  EXPECT_EQ(none.strength, 0.0);
  EXPECT_EQ(none.timestep, -1);
  const auto all = diffedit::eval::strength_for_sigma(scheduler, 50, 1e6);
  EXPECT_EQ(all.strength, 1.0);
  EXPECT_EQ(all.timestep, grid.front());
}

namespace {
// A toy-eval experiment with DiffEdit at r = 0.3 and 0.8 and SDEdit at 0.3, and records for it
// written by hand: per setting, (success, unedited MSE, mask IoU, predicted class) per item.
struct BarsFixture {
  diffedit::eval::Experiment e = [] {
    using J = diffedit::config::Json;
    const J diffedit = {{"method", "diffedit"}, {"label", "DiffEdit"}, {"grid", {{"strength", J::array({0.3, 0.8})}}}};
    const J sdedit = {{"method", "sdedit"}, {"label", "SDEdit"}, {"grid", {{"strength", J::array({0.3})}}}};
    const J config = {{"name", "bars"},
                      {"model", "m"},
                      {"dataset", {{"name", "toy-imagenet"}, {"limit", 4}}},
                      {"methods", J::array({diffedit, sdedit})},
                      {"metrics", {{"per_image", J::array({"mask_iou", "edit_success", "unedited_psnr"})}, {"classifier", "c"}}}};
    return diffedit::eval::make_experiment(diffedit::eval::experiment_schema().validate(config, "bars"), "bars");
  }();
  std::map<std::string, diffedit::config::Json> records;
  void add(std::size_t setting, int item, double success, double mse, double iou, std::int64_t predicted, std::int64_t target) {
    const auto& s = e.settings[setting];
    records[s.label + s.name + std::to_string(item)] = {
        {"status", "ok"},
        {"label", s.label},
        {"setting", s.name},
        {"target_label", target},
        {"denoiser_evaluations", 10},
        {"metrics",
         {{"edit_success", success}, {"unedited_mse", mse}, {"mask_iou", iou}, {"predicted_class", predicted}, {"target_mse", mse}}}};
  }
};
}  // namespace

TEST(ToyEval, EditBarsAreReadOffTheRecordsOfTheMainSetting) {
  BarsFixture f;
  ASSERT_EQ(f.e.settings.size(), 3u);
  namespace tw = diffedit::data::toyworld;
  const std::int64_t target = tw::class_of(0, 1), same_shape = tw::class_of(0, 2), same_colour = tw::class_of(2, 1);
  // DiffEdit r = 0.8 (setting 1): successes 1, 1, 0, 0 (one wrong colour, one wrong shape).
  f.add(1, 0, 1, 1e-3, 0.2, target, target);
  f.add(1, 1, 1, 1e-3, 0.9, target, target);
  f.add(1, 2, 0, 3e-3, 0.6, same_shape, target);
  f.add(1, 3, 0, 3e-3, 0.4, same_colour, target);
  f.add(0, 0, 0, 1e-4, 0.5, same_shape, target);  // DiffEdit r = 0.3: one record, success 0
  f.add(2, 0, 1, 1e-2, 0.0, target, target);      // SDEdit r = 0.3: success 1 at 20 dB
  auto failed = f.records.begin()->second;
  failed["status"] = "failed";
  f.records["failed"] = failed;  // failed records never count
  const auto b = diffedit::eval::edit_bars(f.e, f.records, 0.8);
  EXPECT_DOUBLE_EQ(b["diffedit_mask_iou_median"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b["diffedit_edit_success"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b["diffedit_edit_success_se"].get<double>(), std::sqrt(0.25 / 4));
  EXPECT_DOUBLE_EQ(b["diffedit_edit_success_colour"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(b["diffedit_edit_success_shape"].get<double>(), 0.75);
  EXPECT_NEAR(b["diffedit_unedited_psnr_db"].get<double>(), -10 * std::log10(2e-3), 1e-9) << "the PSNR of the mean MSE";
  EXPECT_NEAR(b["diffedit_unedited_psnr_db_median_per_image"].get<double>(), 0.5 * (-10 * std::log10(1e-3) - 10 * std::log10(3e-3)), 1e-9);
  EXPECT_EQ(b["diffedit_edits"], 4);
  ASSERT_EQ(b["sweep"].size(), 3u);
  // SDEdit's point (1.0, 20 dB) is beaten by no DiffEdit point (0.5 at 27 dB, 0 at 40 dB).
  EXPECT_FALSE(b["diffedit_dominates_sdedit"].get<bool>());
  f.add(1, 4, 1, 1e-3, 0.5, target, target);
  f.add(1, 5, 1, 1e-3, 0.5, target, target);
  f.records.erase(f.e.settings[1].label + f.e.settings[1].name + "2");
  f.records.erase(f.e.settings[1].label + f.e.settings[1].name + "3");
  EXPECT_TRUE(diffedit::eval::edit_bars(f.e, f.records, 0.8)["diffedit_dominates_sdedit"].get<bool>()) << "1.0 at 30 dB beats 1.0 at 20 dB";
  EXPECT_THROW(diffedit::eval::edit_bars(f.e, f.records, 0.5), diffedit::ConfigError) << "no DiffEdit setting at r = 0.5";
  f.records.clear();
  EXPECT_THROW(diffedit::eval::edit_bars(f.e, f.records, 0.8), diffedit::InputError) << "no finished record";
}
