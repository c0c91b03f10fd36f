// CLIPScore parity (fixture: clip-v1/clipscore): embeddings from the native towers, cosines, both
// score conventions and the directional similarity.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "metrics/clip_score.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/state_dict.h"
#include "parity_support.h"
#include "test_support.h"

namespace m = diffedit::metrics;
using diffedit::testing::fixture;
using diffedit::testing::within;

// README: cosines at 1e-6, torchmetrics scores (x100) at 1e-4; embeddings at 1e-5.
TEST(ClipScoreParity, EmbeddingsCosinesAndScores) {
  const auto c = diffedit::safetensors::File::open(fixture("clip-v1/clipscore/clipscore.safetensors"));
  torch::NoGradGuard no_grad;
  // Embeddings through the towers.
  const auto text_dir = fixture("clip-v1/text_sd1");
  diffedit::models::CLIPTextModel text(diffedit::models::CLIPTextConfig::load(text_dir / "config.json"), true);
  diffedit::models::load_state_dict(*text, diffedit::safetensors::File::open(text_dir / "model.safetensors"));
  auto vision = diffedit::models::load_clip_vision(fixture("clip-v1/vision"));
  const auto vision_out = diffedit::safetensors::File::open(fixture("clip-v1/vision/outputs.safetensors"));
  const at::Tensor image = vision->forward(vision_out.tensor("pixel_values")).image_embeds;
  const at::Tensor txt = text->forward(c.tensor("input_ids")).text_embeds;
  const at::Tensor hessel_txt = text->forward(c.tensor("hessel_input_ids")).text_embeds;
  EXPECT_TRUE(within("image_embeds", image, c.tensor("image_embeds"), 1e-5));
  EXPECT_TRUE(within("text_embeds", txt, c.tensor("text_embeds"), 1e-5));
  EXPECT_TRUE(within("hessel_text_embeds", hessel_txt, c.tensor("hessel_text_embeds"), 1e-5));

  // Scores from the stored embeddings (the metric alone).
  const at::Tensor i = c.tensor("image_embeds"), t = c.tensor("text_embeds"), h = c.tensor("hessel_text_embeds");
  EXPECT_TRUE(within("cos_matrix", m::cosine_matrix(i, t), c.tensor("cos_matrix"), 1e-6));
  EXPECT_TRUE(within("cos_matrix_hessel_prefix", m::cosine_matrix(i, h), c.tensor("cos_matrix_hessel_prefix"), 1e-6));
  EXPECT_TRUE(within("cos_pairs", m::paired_cosine(i, t), c.tensor("cos_pairs"), 1e-6));
  EXPECT_TRUE(within("torchmetrics_per_sample", m::torchmetrics_clip_score_per_sample(i, t), c.tensor("torchmetrics_per_sample"), 1e-4));
  EXPECT_NEAR(m::torchmetrics_clip_score(i, t), c.tensor("torchmetrics_clip_score").item<double>(), 1e-4);
  EXPECT_TRUE(within("hessel_clip_s_per_sample", m::hessel_clip_s_per_sample(i, h), c.tensor("hessel_clip_s_per_sample"), 1e-6));
  EXPECT_NEAR(m::hessel_clip_s(i, h), c.tensor("hessel_clip_s_mean").item<double>(), 1e-6);
  EXPECT_TRUE(within("directional_similarity",
                     m::directional_similarity(i.slice(0, 0, 1), i.slice(0, 1, 2), t.slice(0, 0, 1), t.slice(0, 1, 2)),
                     c.tensor("directional_similarity"), 1e-6));
}
