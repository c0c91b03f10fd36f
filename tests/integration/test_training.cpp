// Training the toy classifier: the loss falls from scratch, and a run stopped and resumed from its
// checkpoint ends with the same weights as an uninterrupted one.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "test_support.h"
#include "training/train_classifier.h"

namespace tr = diffedit::training;
using diffedit::config::Json;
using diffedit::testing::ScratchDir;

namespace {
Json config(std::int64_t steps, std::int64_t batch = 16, std::int64_t width = 16) {
  return tr::classifier_schema().validate(
      {{"model", "toy-classifier"}, {"steps", steps}, {"batch_size", batch}, {"width", width}, {"checkpoint_every", 5}}, "test");
}
}  // namespace

TEST(Training, ClassifierLossFallsFromScratch) {
  ScratchDir dir;
  const auto s = tr::train_classifier(config(60, 32, 32), dir.path(), false);
  EXPECT_EQ(s.steps, 60);
  EXPECT_LT(s.last_loss, s.first_loss - 0.1) << s.first_loss << " -> " << s.last_loss;
  EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "config.json"));
}

TEST(Training, ResumeGivesTheUninterruptedResult) {
  ScratchDir straight, interrupted;
  tr::train_classifier(config(12), straight.path(), false);
  tr::train_classifier(config(5), interrupted.path(), false);   // "killed" after its step-5 checkpoint
  const auto s = tr::train_classifier(config(12), interrupted.path(), true);
  EXPECT_EQ(s.steps, 12);
  const auto a = diffedit::safetensors::load_all(straight / "model.safetensors");
  const auto b = diffedit::safetensors::load_all(interrupted / "model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::allclose(t, b.at(name), 0, 1e-6)) << name;
  const auto progress = diffedit::config::load_json(interrupted / "checkpoint" / "progress.json");
  EXPECT_EQ(progress["history"].size(), 12u) << "no step lost or repeated";
}

TEST(Training, BadConfigIsNamed) {
  try {
    tr::classifier_schema().validate({{"model", "toy-classifier"}, {"setps", 3}}, "train.json");
    FAIL();
  } catch (const diffedit::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("train.json: unknown key 'setps' (did you mean 'steps'?)", 0), 0u) << e.what();
  }
}
