// The pure parts of the training loops: loss weights, object weight maps, the prompt mix; and
// FlexIT's target point.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "diffusion/scheduler_config.h"
#include "editing/flexit.h"
#include "training/train_toy_sd.h"

namespace tr = diffedit::training;
namespace ed = diffedit::editing;

TEST(Training, MinSnrLossWeights) {
  using diffedit::diffusion::PredictionType;
  // alpha_bar 0.9 -> SNR 9; 0.5 -> SNR 1; 0.1 -> SNR 1/9.
  const at::Tensor ab = at::tensor({0.9, 0.5, 0.1}, at::kDouble);
  const at::Tensor eps = tr::loss_weights(ab, PredictionType::epsilon, 5);
  const at::Tensor v = tr::loss_weights(ab, PredictionType::v_prediction, 5);
  EXPECT_TRUE(at::allclose(eps, at::tensor({5.0 / 9.0, 1.0, 1.0}, at::kDouble)));  // min(SNR, 5) / SNR
  EXPECT_TRUE(at::allclose(v, at::tensor({0.5, 0.5, 0.1}, at::kDouble)));          // min(SNR, 5) / (SNR + 1)
  EXPECT_TRUE(at::equal(tr::loss_weights(ab, PredictionType::epsilon, 0), at::ones_like(ab)));
}

TEST(Training, ObjectWeightMapFollowsTheGrownMasksInTheLatentLayout) {
  // One 8x8 item with a single object pixel at (3, 4), another with none: factor 2, 3 channels.
  at::Tensor a = at::zeros({1, 8, 8});
  a[0][3][4] = 1;
  const at::Tensor b = at::zeros({2, 8, 8});
  const at::Tensor w = tr::object_weight_map({a, b}, 3.0, 3, 2);
  ASSERT_EQ(w.sizes(), (std::vector<std::int64_t>{2, 12, 4, 4}));
  // Back to pixels: 4 on the object and its 8 neighbours, 1 elsewhere, in all 3 channels.
  const at::Tensor pixels = at::pixel_shuffle(w, 2);
  at::Tensor expected = at::ones({2, 3, 8, 8});
  expected.index_put_({0, at::indexing::Slice(), at::indexing::Slice(2, 5), at::indexing::Slice(3, 6)}, 4.0);
  EXPECT_TRUE(at::equal(pixels, expected));
  EXPECT_TRUE(at::equal(tr::object_weight_map({a, b}, 0.0, 3, 2), at::ones({2, 12, 4, 4})));
}

TEST(Training, TrainingPromptMix) {
  EXPECT_EQ(tr::training_prompt("a red circle on a plain background", "red circle", 0.05, 0.1, 0.3), "");
  EXPECT_EQ(tr::training_prompt("a red circle on a plain background", "red circle", 0.2, 0.1, 0.3), "red circle");
  EXPECT_EQ(tr::training_prompt("a red circle on a plain background", "red circle", 0.5, 0.1, 0.3), "a red circle on a plain background");
}

TEST(FlexIT, TargetPointIsFlexITsFormula) {
  ed::FlexITOptions o;  // im0 0.2, source 0.4, target 1
  const at::Tensor image = at::tensor({3.0f, 4.0f}).unsqueeze(0), source = at::tensor({1.0f, 0.0f}).unsqueeze(0),
                   target = at::tensor({0.0f, 2.0f}).unsqueeze(0);
  // By hand: 0.2 (0.6, 0.8) + (0, 1) - 0.4 (1, 0) = (-0.28, 1.16); its norm is sqrt(1.424).
  const at::Tensor t = ed::flexit_target(image, source, target, o);
  const double n = std::sqrt(1.424);
  EXPECT_NEAR(t[0][0].item<double>(), -0.28 / n, 1e-6);
  EXPECT_NEAR(t[0][1].item<double>(), 1.16 / n, 1e-6);
  o.im0_coef = 0.0;
  o.source_coef = 0.0;
  EXPECT_TRUE(at::allclose(ed::flexit_target(image, source, target, o), at::tensor({0.0f, 1.0f}).unsqueeze(0)));
}
