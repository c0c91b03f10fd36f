// DINO ViT parity with facebookresearch/dino's VisionTransformer (fixture: piebench-v1/dino_vit_tiny,
// a 12-block, 48-wide, 3-head, patch-8, 224-pixel model with vit_base's arguments): patch
// embedding, interpolated positions, every block, the last qkv output, keys and self-similarity,
// the final norm and forward; PIE-Bench's recorded 224x224 inputs; the strict loader.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/structure_distance.h"
#include "models/dino_vit.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
namespace m = diffedit::metrics;
using diffedit::testing::fixture;
using diffedit::testing::within;

namespace {
// README tolerances: tokens and keys 1e-5 of the tensor's max abs (pie224 tokens reach ~1e3);
// positions and key self-similarity 1e-5 absolute.
constexpr double kTokenRel = 1e-5, kPosAbs = 1e-5, kSelfSimAbs = 1e-5;

::testing::AssertionResult within_rel(const std::string& what, const at::Tensor& actual, const at::Tensor& expected, double rel) {
  return within(what, actual, expected, rel * expected.abs().max().item<double>());
}

// Keys stored as the reference's [heads, T, d] -> [T, E], as get_keys_self_sim_from_input joins them.
at::Tensor joined(const at::Tensor& keys_htd) { return keys_htd.transpose(0, 1).reshape({keys_htd.size(1), -1}); }

struct Fixture {
  std::filesystem::path dir = fixture("piebench-v1/dino_vit_tiny");
  diffedit::config::Json cases = diffedit::config::load_json(dir / "cases.json");
  diffedit::safetensors::File tensors = diffedit::safetensors::File::open(dir / "cases.safetensors");
  models::DinoVit model = models::load_dino_vit(dir);
};
}  // namespace

TEST(DinoVitParity, LoadsTheFixtureConfig) {
  const auto dir = fixture("piebench-v1/dino_vit_tiny");
  const auto json = diffedit::config::load_json(dir / "config.json");
  const auto c = models::DinoVitConfig::load(dir / "config.json");
  EXPECT_EQ(c.embed_dim, json["embed_dim"].get<std::int64_t>());
  EXPECT_EQ(c.depth, json["depth"].get<std::int64_t>());
  EXPECT_EQ(c.num_heads, json["num_heads"].get<std::int64_t>());
  EXPECT_EQ(c.patch_size, json["patch_size"].get<std::int64_t>());
  EXPECT_EQ(c.img_size, json["img_size"][0].get<std::int64_t>());
  EXPECT_EQ(c.layer_norm_eps, json["layer_norm_eps"].get<double>());
  EXPECT_EQ(c.num_positions(), json["num_tokens_at_224"].get<std::int64_t>());
  EXPECT_FALSE(c.qk_scale.has_value());
  // The defaults are dino_vitb8's.
  const models::DinoVitConfig b8;
  const auto& real = json["real_dino_vitb8"];
  EXPECT_EQ(b8.embed_dim, real["embed_dim"].get<std::int64_t>());
  EXPECT_EQ(b8.depth, real["depth"].get<std::int64_t>());
  EXPECT_EQ(b8.num_heads, real["num_heads"].get<std::int64_t>());
  EXPECT_EQ(b8.patch_size, real["patch_size"].get<std::int64_t>());
  EXPECT_EQ(b8.img_size, real["img_size"][0].get<std::int64_t>());
}

TEST(DinoVitParity, ConfigErrorsAreNamed) {
  using diffedit::config::Json;
  EXPECT_EQ(models::DinoVitConfig::from_json(Json{{"img_size", 96}}, "c.json").img_size, 96);
  EXPECT_THROW(models::DinoVitConfig::from_json(Json{{"img_size", {224, 224}}}, "c.json"), diffedit::ConfigError);
  EXPECT_THROW(models::DinoVitConfig::from_json(Json{{"embed_dim", 50}, {"num_heads", 3}}, "c.json"), diffedit::ConfigError);
  EXPECT_THROW(models::DinoVitConfig::from_json(Json{{"num_classes", 1000}}, "c.json"), diffedit::ConfigError);
  EXPECT_THROW(models::DinoVitConfig::from_json(Json{{"embed_dimm", 48}}, "c.json"), diffedit::ConfigError);
}

// What `convert_weights.py dino` writes for dino_vitbase8_pretrain.pth.
TEST(DinoVitParity, ConverterConfigIsAccepted) {
  const auto c = models::DinoVitConfig::from_json(
      diffedit::config::parse_json(R"({"architecture": "DINO vision_transformer.VisionTransformer", "embed_dim": 768, "depth": 12,
        "num_heads": 12, "patch_size": 8, "img_size": [224], "in_chans": 3, "mlp_ratio": 4.0, "qkv_bias": true, "qk_scale": null,
        "layer_norm_eps": 1e-06, "num_classes": 0, "source": "dino_vitbase8_pretrain.pth"})",
                                   "config.json"),
      "config.json");
  EXPECT_EQ(c.num_positions(), 785);
  EXPECT_EQ(c.mlp_ratio, 4.0);
}

// x40 (5x5 grid), b2_48x36 (batch 2, 6x4 grid), x45x70 (floored to 5x8): positions resized from
// the 28x28 grid with DINO's scale factors.
TEST(DinoVitParity, InterpolatedCases) {
  Fixture f;
  torch::NoGradGuard no_grad;
  for (const auto& [name, c] : f.cases.items()) {
    if (!c.is_object() || !c.contains("input_shape")) continue;
    SCOPED_TRACE(name);
    const at::Tensor x = f.tensors.tensor(name + ".input");
    ASSERT_EQ(x.sizes(), at::IntArrayRef(c["input_shape"].get<std::vector<std::int64_t>>()));
    const auto grid = c["grid"].get<std::vector<std::int64_t>>();
    const std::int64_t t = 1 + grid[0] * grid[1];
    const auto trace = f.model->forward_trace(x);
    ASSERT_EQ(trace.pos_embed_used.size(1), t);
    EXPECT_EQ(c["interpolated"].get<bool>(), !trace.pos_embed_used.equal(f.model->named_parameters()["pos_embed"]));
    EXPECT_TRUE(within(name + ".pos_embed_used", trace.pos_embed_used, f.tensors.tensor(name + ".pos_embed_used"), kPosAbs));
    EXPECT_TRUE(within_rel(name + ".patch_embed", trace.patch_embed, f.tensors.tensor(name + ".patch_embed"), kTokenRel));
    const at::Tensor blocks = f.tensors.tensor(name + ".block_outputs");
    ASSERT_EQ(trace.block_outputs.size(), static_cast<std::size_t>(blocks.size(0)));
    EXPECT_TRUE(within_rel(name + ".block_outputs", at::stack(trace.block_outputs), blocks, kTokenRel));
    EXPECT_TRUE(within_rel(name + ".qkv_last", trace.qkv.back(), f.tensors.tensor(name + ".qkv_last"), kTokenRel));
    EXPECT_TRUE(within_rel(name + ".norm_out", trace.norm_out, f.tensors.tensor(name + ".norm_out"), kTokenRel));
    EXPECT_TRUE(within_rel(name + ".forward_out", f.model->forward(x), f.tensors.tensor(name + ".forward_out"), kTokenRel));
    // The extractor handles one image: keys and self-similarity where the fixture has them.
    if (!f.tensors.contains(name + ".keys_hTd")) continue;
    const at::Tensor keys = m::dino_keys(f.model, x[0]);
    EXPECT_TRUE(within_rel(name + ".keys", keys, joined(f.tensors.tensor(name + ".keys_hTd")), kTokenRel));
    EXPECT_TRUE(within(name + ".selfsim", m::key_self_similarity(keys), f.tensors.tensor(name + ".selfsim"), kSelfSimAbs));
  }
}

// PIE-Bench's recorded DINO inputs of e2e item 0 (224x224, values up to ~1e3; no interpolation):
// tokens, keys, the self-similarity rows and checksums, and the structure distance between them.
TEST(DinoVitParity, PieBenchInputsAndStructureDistance) {
  Fixture f;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> selfsims;
  for (const std::string name : {"pie224_src", "pie224_tgt"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(f.cases[name]["interpolated"].get<bool>());
    const at::Tensor x = f.tensors.tensor(name + ".input");
    if (f.tensors.contains(name + ".block_outputs_0_and_11")) {
      const auto trace = f.model->forward_trace(x);
      EXPECT_TRUE(trace.pos_embed_used.equal(f.model->named_parameters()["pos_embed"]));
      EXPECT_TRUE(within_rel(name + ".patch_embed", trace.patch_embed, f.tensors.tensor(name + ".patch_embed"), kTokenRel));
      const at::Tensor blocks = f.tensors.tensor(name + ".block_outputs_0_and_11");
      EXPECT_TRUE(within_rel(name + ".block_outputs.0", trace.block_outputs.front(), blocks[0], kTokenRel));
      EXPECT_TRUE(within_rel(name + ".block_outputs.11", trace.block_outputs.at(11), blocks[1], kTokenRel));
      EXPECT_TRUE(within_rel(name + ".norm_out", trace.norm_out, f.tensors.tensor(name + ".norm_out"), kTokenRel));
      EXPECT_TRUE(within_rel(name + ".forward_out", f.model->forward(x), f.tensors.tensor(name + ".forward_out"), kTokenRel));
    }
    const at::Tensor keys = m::dino_keys(f.model, x[0]);
    EXPECT_TRUE(within_rel(name + ".keys", keys, joined(f.tensors.tensor(name + ".keys_hTd")), kTokenRel));
    const at::Tensor s = m::key_self_similarity(keys);
    EXPECT_TRUE(within(name + ".selfsim_rows0_15", s[0].slice(0, 0, 16), f.tensors.tensor(name + ".selfsim_rows0_15"), kSelfSimAbs));
    const auto& sum = f.cases[name]["selfsim_checksum"];
    ASSERT_EQ(s.sizes(), at::IntArrayRef(sum["shape"].get<std::vector<std::int64_t>>()));
    const at::Tensor d = s.to(at::kDouble);
    const double n = static_cast<double>(s.numel());
    EXPECT_NEAR(d.sum().item<double>(), sum["sum_f64"].get<double>(), kSelfSimAbs * n);
    EXPECT_NEAR((d * d).sum().item<double>(), sum["sumsq_f64"].get<double>(), 2 * kSelfSimAbs * n);
    EXPECT_NEAR(d.max().item<double>(), sum["max"].get<double>(), kSelfSimAbs);
    EXPECT_NEAR(d.min().item<double>(), sum["min"].get<double>(), kSelfSimAbs);
    selfsims.push_back(s);
  }
  const double expected = f.cases["pie224_structure_distance"].get<double>();
  const double got = at::mse_loss(selfsims[1], selfsims[0]).item<double>();
  EXPECT_NEAR(got, expected, 1e-4 * expected + 1e-9);
}

TEST(DinoVitParity, QkvOutputStopsAtTheBlock) {
  Fixture f;
  torch::NoGradGuard no_grad;
  const at::Tensor x = f.tensors.tensor("x40.input");
  const auto trace = f.model->forward_trace(x);
  for (const std::int64_t b : {0, 5, 11}) EXPECT_TRUE(f.model->qkv_output(x, b).equal(trace.qkv[static_cast<std::size_t>(b)])) << b;
  EXPECT_THROW(f.model->qkv_output(x, 12), diffedit::InputError);
  EXPECT_THROW(f.model->forward(at::zeros({1, 3, 4, 40})), diffedit::InputError);
}

namespace {
// Loading `tensors` beside the fixture's config must fail naming the file and `tensor`.
void expect_load_error(const diffedit::safetensors::TensorMap& tensors, const std::string& tensor) {
  diffedit::testing::ScratchDir dir;
  std::filesystem::copy_file(fixture("piebench-v1/dino_vit_tiny/config.json"), dir / "config.json");
  diffedit::safetensors::write(dir / "model.safetensors", tensors);
  try {
    models::load_dino_vit(dir.path());
    ADD_FAILURE() << "loaded despite " << tensor;
  } catch (const diffedit::FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("model.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find(tensor), std::string::npos) << what;
  }
}
}  // namespace

TEST(DinoVitParity, LoaderIsStrict) {
  const auto all = diffedit::safetensors::load_all(fixture("piebench-v1/dino_vit_tiny/model.safetensors"));
  auto missing = all;
  missing.erase("blocks.7.mlp.fc2.bias");
  expect_load_error(missing, "blocks.7.mlp.fc2.bias");
  auto extra = all;
  extra["head.weight"] = at::zeros({10, 48});
  expect_load_error(extra, "head.weight");
  auto misshaped = all;
  misshaped["pos_embed"] = at::zeros({1, 197, 48});
  expect_load_error(misshaped, "pos_embed");
}
