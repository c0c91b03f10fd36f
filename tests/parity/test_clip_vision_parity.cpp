// CLIP vision transformer parity with transformers (fixture: clip-v1/vision): hidden states after
// pre_layrnorm and each layer, the post-normalised class token, the projection; and the loader.
// Runs on $DIFFEDIT_TEST_DEVICE (parity_support.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/safetensors.h"
#include "models/clip_vision.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
using diffedit::testing::fixture;
using diffedit::testing::within;

// The fixture README: a correct float32 implementation lands within 1e-5 absolute.
constexpr double kTolerance = 1e-5;

TEST(ClipVisionParity, HiddenStatesPoolerAndImageEmbeds) {
  const auto dir = fixture("clip-v1/vision");
  auto model = models::load_clip_vision(dir);
  ASSERT_TRUE(model->config().projection_dim > 0);
  model->to(diffedit::testing::test_device());
  const auto o = diffedit::safetensors::File::open(dir / "outputs.safetensors");
  torch::NoGradGuard no_grad;
  const auto out = model->forward(diffedit::testing::on_test_device(o.tensor("pixel_values")));
  ASSERT_EQ(out.hidden_states.size(), static_cast<std::size_t>(model->config().num_hidden_layers + 1));
  for (std::size_t i = 0; i < out.hidden_states.size(); ++i)
    EXPECT_TRUE(
        within("hidden_states." + std::to_string(i), out.hidden_states[i], o.tensor("hidden_states." + std::to_string(i)), kTolerance));
  EXPECT_TRUE(within("last_hidden_state", out.last_hidden_state, o.tensor("last_hidden_state"), kTolerance));
  EXPECT_TRUE(within("pooler_output", out.pooler_output, o.tensor("pooler_output"), kTolerance));
  EXPECT_TRUE(within("image_embeds", out.image_embeds, o.tensor("image_embeds"), kTolerance));
}

TEST(ClipVisionParity, WrongInputSizeIsNamed) {
  auto model = models::load_clip_vision(fixture("clip-v1/vision"));
  torch::NoGradGuard no_grad;
  try {
    model->forward(at::zeros({1, 3, 64, 64}));
    FAIL();
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("expected [B, 3, 32, 32]"), std::string::npos) << e.what();
  }
}
