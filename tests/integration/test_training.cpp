// Training the toy classifier: the loss falls from scratch, and a run stopped and resumed from its
// checkpoint ends with the same weights as an uninterrupted one.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "pipelines/clip_model.h"
#include "pipelines/pipeline.h"
#include "test_support.h"
#include "training/train_classifier.h"
#include "training/train_toy_clip.h"
#include "training/train_toy_sd.h"

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
  tr::train_classifier(config(5), interrupted.path(), false);  // "killed" after its step-5 checkpoint
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

// ---- toy-sd -------------------------------------------------------------------------------------

namespace {
// A deliberately small toy-sd config with a jointly trained text encoder (the shipped config,
// configs/train/toy-sd.json, conditions on toy-clip's frozen text tower instead), with the
// tokenizer taken from the repository's models/clip-tokenizer.
Json toy_sd_config(std::int64_t steps) {
  Json c = diffedit::config::load_json(diffedit::testing::source_dir() / "configs/train/toy-sd-joint.json");
  c["steps"] = steps;
  c["batch_size"] = 16;
  c["warmup"] = 5;
  c["lr"] = 2e-3;
  c["checkpoint_every"] = 5;
  c["tokenizer"] = (diffedit::testing::source_dir() / "models/clip-tokenizer").string();
  c["unet"]["block_out_channels"] = {32, 32, 32};
  c["unet"]["norm_num_groups"] = 8;
  c["text_encoder"]["hidden_size"] = 64;
  return tr::toy_sd_schema().validate(c, "test");
}
}  // namespace

TEST(Training, ToySDLossFallsAndWritesADiffusersDirectory) {
  ScratchDir dir;
  const auto s = tr::train_toy_sd(toy_sd_config(40), dir.path(), false);
  EXPECT_EQ(s.steps, 40);
  EXPECT_LT(s.last_loss, 0.8 * s.first_loss) << s.first_loss << " -> " << s.last_loss;
  // The result loads through the same loader as a real Stable Diffusion checkpoint.
  auto sd = diffedit::pipelines::StableDiffusion::load(dir.path());
  ASSERT_TRUE(sd.codec.has_value());
  EXPECT_EQ(sd.vae_scale_factor(), 2);
  const at::Tensor e = sd.encode_prompts({"a red circle"});
  EXPECT_EQ(e.sizes(), (std::vector<std::int64_t>{1, 77, 64}));
  // The codec is lossless: encode then decode returns the image.
  const at::Tensor image = at::rand({1, 3, 32, 32});
  const at::Tensor back = sd.decode(sd.to_latents(sd.encode(image)));
  EXPECT_LT((back - image).abs().max().item<double>(), 1e-6);
}

TEST(Training, ToySDResumeGivesTheUninterruptedResult) {
  ScratchDir straight, interrupted;
  tr::train_toy_sd(toy_sd_config(8), straight.path(), false);
  tr::train_toy_sd(toy_sd_config(5), interrupted.path(), false);
  tr::train_toy_sd(toy_sd_config(8), interrupted.path(), true);
  for (const char* f : {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
    const auto a = diffedit::safetensors::load_all(straight / f);
    const auto b = diffedit::safetensors::load_all(interrupted / f);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) EXPECT_TRUE(at::allclose(t, b.at(name), 0, 1e-6)) << f << ": " << name;
  }
}

TEST(Training, ToySDTrainsVPredictionWithMinSnrWeighting) {
  ScratchDir dir;
  Json c = toy_sd_config(40);
  c["scheduler"]["prediction_type"] = "v_prediction";
  c["snr_gamma"] = 5.0;
  const auto s = tr::train_toy_sd(c, dir.path(), false);
  EXPECT_LT(s.last_loss, 0.8 * s.first_loss) << s.first_loss << " -> " << s.last_loss;
  // The shipped scheduler config says what the UNet predicts, so the samplers convert its output.
  auto sd = diffedit::pipelines::StableDiffusion::load(dir.path());
  EXPECT_EQ(sd.scheduler.prediction_type, diffedit::diffusion::PredictionType::v_prediction);
}

TEST(Training, ToySDFineTunesFromAnotherRunsUNet) {
  ScratchDir source, tuned, mismatched;
  tr::train_toy_sd(toy_sd_config(3), source.path(), false);
  // With lr 0 the fine-tune cannot move: it ships the source's UNet exactly (a run ignoring
  // init_unet_from would ship its own random initialisation).
  Json c = toy_sd_config(2);
  c["lr"] = 0.0;
  c["seed"] = 7;
  c["init_unet_from"] = source.path().string();
  c["scheduler"]["prediction_type"] = "v_prediction";
  tr::train_toy_sd(c, tuned.path(), false);
  const auto a = diffedit::safetensors::load_all(source / "unet/diffusion_pytorch_model.safetensors");
  const auto b = diffedit::safetensors::load_all(tuned / "unet/diffusion_pytorch_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::allclose(t, b.at(name), 0, 1e-6)) << name;
  // Another architecture is refused, naming the source's weights file.
  Json other = c;
  other["unet"]["block_out_channels"] = {16, 16, 16};
  try {
    tr::train_toy_sd(tr::toy_sd_schema().validate(other, "test"), mismatched.path(), false);
    ADD_FAILURE() << "a UNet of another architecture was loaded";
  } catch (const diffedit::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("diffusion_pytorch_model.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Training, ToySDTrainsWithObjectWeighting) {
  ScratchDir dir;
  Json c = toy_sd_config(40);
  c["object_weight"] = 3.0;
  const auto s = tr::train_toy_sd(c, dir.path(), false);
  EXPECT_LT(s.last_loss, 0.8 * s.first_loss) << s.first_loss << " -> " << s.last_loss;
  // The weight reaches the loss: the same first batch, noise and weights give another loss with
  // it than without (a run that ignored it would report the same number).
  ScratchDir plain_dir, weighted_dir;
  Json plain = toy_sd_config(1), weighted = toy_sd_config(1);
  weighted["object_weight"] = 3.0;
  EXPECT_NE(tr::train_toy_sd(plain, plain_dir.path(), false).first_loss, tr::train_toy_sd(weighted, weighted_dir.path(), false).first_loss);
  Json bad = toy_sd_config(1);
  bad["object_weight"] = -1.0;
  EXPECT_THROW(tr::toy_sd_schema().validate(bad, "test"), diffedit::ConfigError);
}

TEST(Training, ToySDConditionsOnAFrozenClipTextTower) {
  ScratchDir dir;
  Json c = toy_sd_config(40);
  c.erase("text_encoder");
  const auto clip_dir = diffedit::testing::source_dir() / "models/toy-clip";
  c["text_encoder_from"] = clip_dir.string();
  const auto s = tr::train_toy_sd(c, dir.path(), false);
  EXPECT_LT(s.last_loss, 0.8 * s.first_loss) << s.first_loss << " -> " << s.last_loss;
  // The shipped text encoder is toy-clip's text tower, unchanged by training.
  const auto trained = diffedit::safetensors::load_all(dir / "text_encoder/model.safetensors");
  const auto clip = diffedit::safetensors::load_all(clip_dir / "model.safetensors");
  ASSERT_EQ(trained.size(), 36u);
  for (const auto& [name, t] : trained) EXPECT_TRUE(at::equal(t, clip.at(name).to(at::kFloat))) << name;
  auto sd = diffedit::pipelines::StableDiffusion::load(dir.path());
  EXPECT_EQ(sd.encode_prompts({"a red circle"}).sizes(), (std::vector<std::int64_t>{1, 77, 64}));
}

TEST(Training, ToySDKeepsTheFirstLayersOfTheFrozenTower) {
  const auto clip_dir = diffedit::testing::source_dir() / "models/toy-clip";
  auto full = diffedit::pipelines::StableDiffusion::load(diffedit::testing::source_dir() / "models/toy-sd");
  const std::vector<std::string> prompts = {"a red circle", "a blue heart above a green star on a striped background"};
  const std::int64_t layers = full.text_encoder->config().num_hidden_layers;
  ASSERT_EQ(layers, 2);
  for (std::int64_t k : {0, 1}) {
    ScratchDir dir;
    Json c = toy_sd_config(2);
    c.erase("text_encoder");
    c["text_encoder_from"] = clip_dir.string();
    c["text_encoder_layers"] = k;
    tr::train_toy_sd(c, dir.path(), false);
    // A k-layer CLIPTextModel, whose output is the full tower's clip_skip = layers - k.
    EXPECT_EQ(diffedit::config::load_json(dir / "text_encoder/config.json")["num_hidden_layers"], k);
    const auto weights = diffedit::safetensors::load_all(dir / "text_encoder/model.safetensors");
    EXPECT_EQ(weights.size(), 4u + 16u * static_cast<std::size_t>(k));
    for (const auto& [name, t] : weights) EXPECT_EQ(name.find("layers." + std::to_string(k) + "."), std::string::npos) << name;
    auto sd = diffedit::pipelines::StableDiffusion::load(dir.path());
    const at::Tensor kept = sd.encode_prompts(prompts), skipped = full.encode_prompts(prompts, layers - k);
    EXPECT_TRUE(at::allclose(kept, skipped, 1e-5, 1e-6)) << "k = " << k << ": " << (kept - skipped).abs().max().item<double>();
    EXPECT_FALSE(at::allclose(kept, full.encode_prompts(prompts), 1e-2, 1e-2)) << "k = " << k;
  }
  Json too_many = toy_sd_config(2), without_tower = toy_sd_config(2);
  too_many.erase("text_encoder");
  too_many["text_encoder_from"] = clip_dir.string();
  too_many["text_encoder_layers"] = 3;
  without_tower["text_encoder_layers"] = 1;
  ScratchDir dir;
  EXPECT_THROW(tr::train_toy_sd(too_many, dir.path(), false), diffedit::ConfigError);
  EXPECT_THROW(tr::train_toy_sd(without_tower, dir.path(), false), diffedit::ConfigError);
}

TEST(Training, ToySDTextEncoderSourceErrorsAreNamed) {
  ScratchDir dir, empty;
  Json both = toy_sd_config(2);
  both["text_encoder_from"] = (diffedit::testing::source_dir() / "models/toy-clip").string();
  EXPECT_THROW(tr::train_toy_sd(both, dir.path(), false), diffedit::ConfigError);
  Json missing = toy_sd_config(2);
  missing.erase("text_encoder");
  missing["text_encoder_from"] = empty.path().string();
  try {
    tr::train_toy_sd(missing, dir.path(), false);
    FAIL();
  } catch (const diffedit::Error& e) {
    EXPECT_NE(std::string(e.what()).find((empty / "config.json").string()), std::string::npos) << e.what();
  }
}

// ---- toy-clip -----------------------------------------------------------------------------------

namespace {
Json small_toy_clip_config() {
  Json c = diffedit::config::load_json(diffedit::testing::source_dir() / "configs/train/toy-clip.json");
  c["steps"] = 60;
  c["batch_size"] = 32;
  c["warmup"] = 10;
  c["checkpoint_every"] = 10;
  c["tokenizer"] = (diffedit::testing::source_dir() / "models/clip-tokenizer").string();
  c["vision_config"]["num_hidden_layers"] = 1;
  return c;
}
}  // namespace

TEST(Training, ToyClipLossFallsAndWritesAClipModelDirectory) {
  ScratchDir dir;
  const Json c = small_toy_clip_config();
  const auto s = tr::train_toy_clip(tr::toy_clip_schema().validate(c, "test"), dir.path(), false);
  EXPECT_EQ(s.steps, 60);
  EXPECT_LT(s.last_loss, s.first_loss - 0.5) << s.first_loss << " -> " << s.last_loss;
  // The result loads as a Hugging Face CLIPModel directory and embeds images and texts.
  auto clip = diffedit::pipelines::ClipModel::load(dir.path());
  torch::NoGradGuard no_grad;
  EXPECT_EQ(clip.image_embeds(at::rand({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 64}));
  EXPECT_EQ(clip.text_embeds({"a red circle", ""}).sizes(), (std::vector<std::int64_t>{2, 64}));
  EXPECT_THROW(clip.image_embeds(at::rand({1, 3, 16, 16})), diffedit::InputError);
  EXPECT_NEAR(clip.logit_scale, diffedit::safetensors::load_all(dir / "model.safetensors").at("logit_scale").item<double>(), 0);
}

TEST(Training, ToyClipTrainsWithEditNegatives) {
  // Every item adds its edit's text as a negative: 64 texts per 32 images, so the first loss is
  // higher (about (ln 64 + ln 32) / 2 against ln 32), and it still falls.
  ScratchDir plain, negatives;
  Json c = small_toy_clip_config();
  c["steps"] = 10;  // first_loss averages the first 10 steps
  const auto without = tr::train_toy_clip(tr::toy_clip_schema().validate(c, "test"), plain.path(), false);
  c["steps"] = 60;
  c["edit_negatives"] = 1.0;
  const auto with = tr::train_toy_clip(tr::toy_clip_schema().validate(c, "test"), negatives.path(), false);
  EXPECT_GT(with.first_loss, without.first_loss + 0.2) << with.first_loss << " vs " << without.first_loss;
  EXPECT_LT(with.last_loss, with.first_loss - 0.5) << with.first_loss << " -> " << with.last_loss;
  c["edit_negatives"] = 1.5;
  EXPECT_THROW(tr::toy_clip_schema().validate(c, "test"), diffedit::ConfigError);
}
