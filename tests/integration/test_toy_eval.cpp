// `diffedit toy-eval`: the dominance test of its sweep, the noise level of its retention diagnostic,
// and a small run of the whole command on the embedded models.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "diffusion/schedulers.h"
#include "eval/toy_eval.h"
#include "models/toy_classifier.h"
#include "test_support.h"

using diffedit::eval::TradeoffPoint;
using diffedit::testing::ScratchDir;
using diffedit::testing::run_cli;
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
  auto sigma_at = [&](std::int64_t t) { const double a = alpha_bar[t].item<double>(); return std::sqrt((1 - a) / a); };
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

TEST(ToyEval, SmallRunWritesEveryKey) {
  ScratchDir dir;
  const auto out = dir / "toy-eval.json";
  const auto r = run_cli({"-q", "--threads", "1", "toy-eval", "--models", (source_dir() / "models").string(), "--count", "10",
                          "--prompts", "2", "--edits", "2", "--sweep-edits", "1", "--sweep-strengths", "0.5", "--steps", "4",
                          "--retention-items", "3", "--retention-sigmas", "1e-4", "100", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = diffedit::config::load_json(out);
  for (const char* key : {"classifier_accuracy", "clip_top1_of_100", "t2i_class_agreement", "diffedit_mask_iou_median",
                          "diffedit_edit_success", "diffedit_unedited_psnr_db", "diffedit_dominates_sdedit"})
    EXPECT_FALSE(json[key].is_null()) << key;
  EXPECT_FALSE(json.contains("pending"));
  ASSERT_EQ(json["retention"].size(), 2u);
  // At a sigma below every level the images come back untouched: retention is the classifier's
  // accuracy on those images.
  const auto& none = json["retention"][0];
  EXPECT_EQ(none["strength"], 0.0);
  EXPECT_EQ(none["images"], 3);
  // The default world: the shipped models'.
  const auto world = diffedit::data::toyworld::preset(diffedit::data::toyworld::kDefaultPreset);
  EXPECT_EQ(json["settings"]["world"]["preset"], world.preset);
  EXPECT_EQ(json["settings"]["strength"], 0.8) << "the paper's ImageNet point";
  EXPECT_TRUE(json["diffedit_edit_success_se"].is_number());
  EXPECT_TRUE(json["sweep"][0]["edit_success_se"].is_number());
  auto classifier = diffedit::models::load_toy_classifier(source_dir() / "models" / "toy-classifier");
  torch::NoGradGuard no_grad;
  std::int64_t right = 0;
  for (int i = 0; i < 3; ++i) {
    const auto item = diffedit::data::toyworld::generate("test", i, 0, world);
    right += classifier->forward(item.image.unsqueeze(0)).argmax(1).item<std::int64_t>() == item.label;
  }
  EXPECT_DOUBLE_EQ(none["class"].get<double>(), right / 3.0);
  // The one-step estimate has no level to start from either: the same clean images.
  EXPECT_EQ(none["shape_one_step"], none["shape"]);
  EXPECT_EQ(none["colour_one_step"], none["colour"]);
  // From pure noise (the whole schedule) the result is a generation, bounded like any rate.
  const auto& all = json["retention"][1];
  EXPECT_EQ(all["strength"], 1.0);
  for (const char* k : {"shape", "colour", "class", "shape_one_step", "colour_one_step"}) {
    EXPECT_GE(all[k].get<double>(), 0.0);
    EXPECT_LE(all[k].get<double>(), 1.0);
  }
  // Text separation: a pair per two shapes of the world, each a positive distance; the closest pair
  // is the minimum and the mean over pairs lies between the extremes.
  const auto& pairs = json["text_shape_pair_distances"];
  const std::size_t n_pairs = world.shapes.size() * (world.shapes.size() - 1) / 2;
  ASSERT_EQ(pairs.size(), n_pairs);
  double lowest = std::numeric_limits<double>::infinity(), highest = 0, sum = 0;
  for (const auto& [name, d] : pairs.items()) {
    EXPECT_GT(d.get<double>(), 0.0) << name;
    lowest = std::min(lowest, d.get<double>());
    highest = std::max(highest, d.get<double>());
    sum += d.get<double>();
  }
  EXPECT_DOUBLE_EQ(json["text_closest_shapes_distance"].get<double>(), lowest);
  EXPECT_DOUBLE_EQ(pairs[json["text_closest_shapes"].get<std::string>()].get<double>(), lowest);
  EXPECT_NEAR(json["text_shape_distance"].get<double>(), sum / static_cast<double>(n_pairs), 1e-9 * sum);
  EXPECT_GT(json["text_colour_distance"].get<double>(), 0.0);
}

TEST(ToyEval, ClassifierJudgesShapesThroughMildBlurNoiseAndBlocks) {
  // Generations and edits are judged by the toy classifier. Its shape calls must survive the mild
  // defects a generator leaves (slight blur, pixel noise, 2x2-block structure from the
  // space-to-depth latents), or low agreement would measure the judge instead of the generator.
  // Items of the shipped models' world.
  const auto world = diffedit::data::toyworld::preset(diffedit::data::toyworld::kDefaultPreset);
  auto classifier = diffedit::models::load_toy_classifier(source_dir() / "models" / "toy-classifier");
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> images;
  std::vector<std::int64_t> shapes;
  for (int i = 0; i < 256; ++i) {
    const auto item = diffedit::data::toyworld::generate("test", i, 0, world);
    images.push_back(item.image);
    shapes.push_back(diffedit::data::toyworld::shape_of(item.label));
  }
  const at::Tensor x = at::stack(images);
  const at::Tensor r = at::arange(-2, 3, at::kFloat);
  at::Tensor k = at::exp(-r * r / (2 * 0.8 * 0.8));
  k = k / k.sum();
  const at::Tensor kernel = (k.view({5, 1}) * k.view({1, 5})).view({1, 1, 5, 5}).repeat({3, 1, 1, 1});
  at::Generator gen = at::detail::createCPUGenerator(7);
  const std::vector<std::pair<std::string, at::Tensor>> cases = {
      {"gaussian blur 0.8 px", at::conv2d(at::reflection_pad2d(x, {2, 2, 2, 2}), kernel, at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, 3)},
      {"noise std 0.05", (x + 0.05 * at::randn(x.sizes(), gen)).clamp(0, 1)},
      {"2x2 block means", at::upsample_nearest2d(at::avg_pool2d(x, 2), {32, 32})}};
  for (const auto& [name, perturbed] : cases) {
    const at::Tensor predicted = classifier->forward(perturbed).argmax(1);
    int right = 0;
    for (int i = 0; i < 256; ++i) right += diffedit::data::toyworld::shape_of(predicted[i].item<std::int64_t>()) == shapes[static_cast<std::size_t>(i)];
    EXPECT_GE(right / 256.0, 0.95) << name;
  }
}
