// `diffedit toy-eval`: a small run of the whole command on the embedded models, and the classifier
// that judges it (the pure parts are in unit/test_toy_eval_bars.cpp).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "models/toy_classifier.h"
#include "test_support.h"

using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;
using diffedit::testing::source_dir;

TEST(ToyEval, SmallRunWritesEveryKey) {
  ScratchDir dir;
  const auto out = dir / "toy-eval.json";
  const auto r = run_cli({"-q",
                          "--threads",
                          "1",
                          "toy-eval",
                          (source_dir() / "configs" / "toy" / "toy-eval.json").string(),
                          "dataset.limit=2",
                          "methods.0.grid.strength=[0.5,0.8]",
                          "methods.1.grid.strength=[0.5]",
                          "--models",
                          (source_dir() / "models").string(),
                          "--count",
                          "10",
                          "--prompts",
                          "2",
                          "--steps",
                          "4",
                          "--retention-items",
                          "3",
                          "--retention-sigmas",
                          "1e-4",
                          "100",
                          "--out",
                          out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The edit bars came from the runner's records, kept beside the result (a rerun resumes them).
  EXPECT_TRUE(std::filesystem::exists(dir / "toy-eval.runs" / "summary.json"));
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
  EXPECT_EQ(json["sweep"].size(), 3u) << "DiffEdit at 0.5 and 0.8, SDEdit at 0.5";
  EXPECT_EQ(json["diffedit_edits"], 2);
  EXPECT_EQ(json["settings"]["experiment"]["dataset"]["limit"], 2);
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
      {"gaussian blur 0.8 px", at::conv2d(at::reflection_pad2d(x, {2, 2, 2, 2}), kernel, at::Tensor(), at::IntArrayRef{1},
                                          at::IntArrayRef{0}, at::IntArrayRef{1}, 3)},
      {"noise std 0.05", (x + 0.05 * at::randn(x.sizes(), gen)).clamp(0, 1)},
      {"2x2 block means", at::upsample_nearest2d(at::avg_pool2d(x, 2), {32, 32})}};
  for (const auto& [name, perturbed] : cases) {
    const at::Tensor predicted = classifier->forward(perturbed).argmax(1);
    int right = 0;
    for (int i = 0; i < 256; ++i)
      right += diffedit::data::toyworld::shape_of(predicted[i].item<std::int64_t>()) == shapes[static_cast<std::size_t>(i)];
    EXPECT_GE(right / 256.0, 0.95) << name;
  }
}
