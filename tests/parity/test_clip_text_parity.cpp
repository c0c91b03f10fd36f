// CLIP text transformer parity with transformers (fixtures: clip-v1/text_sd1, text_sd2): hidden
// states, final LN, pooling (both rules), projection, clip_skip, and the padding-mask variant. Runs
// on $DIFFEDIT_TEST_DEVICE (parity_support.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "models/clip_text.h"
#include "models/state_dict.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
using diffedit::testing::fixture;
using diffedit::testing::on_test_device;
using diffedit::testing::within;

namespace {

// The fixture README: a correct float32 implementation lands within 1e-5 absolute.
constexpr double kTolerance = 1e-5;

void check_text_tower(const std::string& name) {
  const auto dir = fixture("clip-v1/" + name);
  const auto config = models::CLIPTextConfig::load(dir / "config.json");
  models::CLIPTextModel model(config, true);
  models::load_state_dict(*model, diffedit::safetensors::File::open(dir / "model.safetensors"));
  model->eval();
  model->to(diffedit::testing::test_device());
  const auto o = diffedit::safetensors::File::open(dir / "outputs.safetensors");
  torch::NoGradGuard no_grad;

  const at::Tensor ids = on_test_device(o.tensor("input_ids"));
  const auto out = model->forward(ids);
  ASSERT_EQ(out.hidden_states.size(), static_cast<std::size_t>(config.num_hidden_layers + 1));
  for (std::size_t i = 0; i < out.hidden_states.size(); ++i)
    EXPECT_TRUE(within(name + " hidden_states." + std::to_string(i), out.hidden_states[i], o.tensor("hidden_states." + std::to_string(i)),
                       kTolerance));
  EXPECT_TRUE(within(name + " last_hidden_state", out.last_hidden_state, o.tensor("last_hidden_state"), kTolerance));
  EXPECT_TRUE(within(name + " pooler_output", out.pooler_output, o.tensor("pooler_output"), kTolerance));
  EXPECT_TRUE(within(name + " text_embeds", out.text_embeds, o.tensor("text_embeds"), kTolerance));
  EXPECT_TRUE(within(name + " clip_skip=1", model->prompt_embeds(ids, 1), o.tensor("clip_skip1.prompt_embeds"), kTolerance));

  const auto masked = model->forward(ids, on_test_device(o.tensor("attention_mask")));
  EXPECT_TRUE(within(name + " masked last_hidden_state", masked.last_hidden_state, o.tensor("masked.last_hidden_state"), kTolerance));
  EXPECT_TRUE(within(name + " masked pooler_output", masked.pooler_output, o.tensor("masked.pooler_output"), kTolerance));
  EXPECT_TRUE(within(name + " masked text_embeds", masked.text_embeds, o.tensor("masked.text_embeds"), kTolerance));

  // Pooling: argmax of ids (eos_token_id == 2, the SD configs) vs first EOS (eos_token_id = 49407).
  const at::Tensor div_ids = on_test_device(o.tensor("pooling_divergence.input_ids"));
  EXPECT_TRUE(within(name + " argmax pooling", model->forward(div_ids).pooler_output,
                     o.tensor("pooling_divergence.pooler_output_argmax_rule"), kTolerance));
  auto eos_config = config;
  eos_config.eos_token_id = 49407;
  models::CLIPTextModel eos_model(eos_config, true);
  models::load_state_dict(*eos_model, diffedit::safetensors::File::open(dir / "model.safetensors"));
  eos_model->to(diffedit::testing::test_device());
  EXPECT_TRUE(within(name + " first-EOS pooling", eos_model->forward(div_ids).pooler_output,
                     o.tensor("pooling_divergence.pooler_output_eos_rule"), kTolerance));
}

}  // namespace

TEST(clip_text_parity, Sd1QuickGelu) { check_text_tower("text_sd1"); }
TEST(clip_text_parity, Sd2Gelu) { check_text_tower("text_sd2"); }

TEST(clip_text_parity, LoaderDropsProjectionlessAndLegacyBuffer) {
  // A CLIPTextModel directory (model.safetensors without text_projection, with the legacy
  // position_ids buffer) loads; the projection-less model gives the same hidden states.
  diffedit::testing::ScratchDir scratch;
  const auto src = fixture("clip-v1/text_sd1");
  auto weights = diffedit::safetensors::load_all(src / "model.safetensors");
  weights.erase("text_projection.weight");
  weights["text_model.embeddings.position_ids"] = at::arange(77, at::kLong).unsqueeze(0);
  std::filesystem::create_directories(scratch / "text_encoder");
  diffedit::safetensors::write(scratch / "text_encoder" / "model.safetensors", weights);
  std::filesystem::copy_file(src / "config.json", scratch / "text_encoder" / "config.json");
  auto model = models::load_clip_text(scratch / "text_encoder");
  EXPECT_FALSE(model->has_projection());
  const auto o = diffedit::safetensors::File::open(src / "outputs.safetensors");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(within("loaded last_hidden_state", model->forward(o.tensor("input_ids")).last_hidden_state, o.tensor("last_hidden_state"),
                     kTolerance));
}
