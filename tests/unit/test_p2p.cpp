// Prompt-to-Prompt's pieces without fixtures: the UNet's attention hook (no effect when unused,
// every layer once per call, in execution order), the token bookkeeping's rules on hand-made
// prompts (the reference's quirks included) and the `p2p` parameters' errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "editing/method.h"
#include "editing/p2p.h"
#include "models/unet2d_condition.h"

namespace p2p = diffedit::editing::p2p;
namespace models = diffedit::models;
using diffedit::config::Json;

namespace {

models::UNet2DConditionModel small_unet() {
  const Json config = {{"_class_name", "UNet2DConditionModel"},
                       {"in_channels", 4},
                       {"out_channels", 4},
                       {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}},
                       {"up_block_types", {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
                       {"block_out_channels", {16, 32}},
                       {"layers_per_block", 1},
                       {"attention_head_dim", 2},
                       {"cross_attention_dim", 8},
                       {"norm_num_groups", 8}};
  at::manual_seed(3);
  models::UNet2DConditionModel unet(models::UNetConfig::from_json(config, "test"));
  unet->eval();
  return unet;
}

struct CountingHook : models::AttentionHook {
  std::vector<models::AttentionSite> seen;
  bool uniform = false;     // replace the maps by uniform attention
  bool cross_only = false;  // decline the self-attention maps
  bool wants(const models::AttentionSite& site, std::int64_t) override { return !cross_only || site.is_cross; }
  at::Tensor on_probs(const models::AttentionSite& site, at::Tensor probs) override {
    seen.push_back(site);
    return uniform ? at::full_like(probs, 1.0 / static_cast<double>(probs.size(2))) : probs;
  }
};

std::string config_error(const Json& parameters) {
  try {
    diffedit::editing::make_method("p2p", parameters, "cfg.json");
  } catch (const diffedit::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

// A prompt with hand-made token pieces (ids: one per piece, between BOS 0 and EOS 1).
p2p::PromptTokens prompt(const std::string& text, const std::vector<std::string>& pieces, std::vector<std::int64_t> ids) {
  ids.insert(ids.begin(), 0);
  ids.push_back(1);
  return {text, ids, pieces};
}

}  // namespace

TEST(AttentionHook, UnusedHookChangesNothingAndSeesEveryLayerOncePerCall) {
  torch::NoGradGuard no_grad;
  auto unet = small_unet();
  at::manual_seed(4);
  const at::Tensor x = at::randn({2, 4, 8, 8}), t = at::scalar_tensor(500, at::kLong), ctx = at::randn({2, 77, 8});
  const at::Tensor plain = unet->forward(x, t, ctx);

  const auto sites = unet->attention_sites();
  // Two down levels, mid, two up levels of (1, 1, 1, 2, 2) transformer blocks, attn1 + attn2 each.
  ASSERT_EQ(sites.size(), 14u);
  for (std::size_t i = 0; i < sites.size(); ++i) {
    EXPECT_EQ(sites[i].index, static_cast<std::int64_t>(i));
    EXPECT_EQ(sites[i].is_cross, i % 2 == 1);
  }
  EXPECT_EQ(sites[3].place, models::UNetPlace::down);
  EXPECT_EQ(sites[4].place, models::UNetPlace::mid);
  EXPECT_EQ(sites[6].place, models::UNetPlace::up);

  CountingHook hook;
  {
    models::ScopedUNetHooks scoped(unet, &hook);
    // A pass-through hook: the same numbers (the hooked path forms all probabilities at once).
    EXPECT_TRUE(at::equal(unet->forward(x, t, ctx), plain));
    ASSERT_EQ(hook.seen.size(), sites.size());
    for (std::size_t i = 0; i < sites.size(); ++i) EXPECT_EQ(hook.seen[i].index, sites[i].index);
    hook.uniform = true;
    EXPECT_FALSE(at::allclose(unet->forward(x, t, ctx), plain)) << "the hook's maps are used";
    // Declined maps never reach on_probs.
    hook.cross_only = true;
    hook.uniform = false;
    hook.seen.clear();
    EXPECT_TRUE(at::equal(unet->forward(x, t, ctx), plain));
    EXPECT_EQ(hook.seen.size(), sites.size() / 2);
    for (const auto& site : hook.seen) EXPECT_TRUE(site.is_cross);
  }
  // Cleared with the guard: no more calls, the plain result bit for bit.
  const std::size_t calls = hook.seen.size();
  EXPECT_TRUE(at::equal(unet->forward(x, t, ctx), plain));
  EXPECT_EQ(hook.seen.size(), calls);
}

TEST(P2PWords, WordPositionsFollowThePiecesCharacterLengths) {
  const auto p = prompt("a photo of a capybara", {"a", "photo", "of", "a", "capy", "bara"}, {5, 6, 7, 5, 8, 9});
  EXPECT_EQ(p2p::word_inds(p, 4), (std::vector<std::int64_t>{5, 6}));
  EXPECT_EQ(p2p::word_inds(p, "a"), (std::vector<std::int64_t>{1, 4}));
  EXPECT_TRUE(p2p::word_inds(p, "cat").empty());
  EXPECT_EQ(p2p::split_words("a  b"), (std::vector<std::string>{"a", "", "b"}));
}

TEST(P2PWords, ReplacementMapperSpreadsOneToManyAndKeepsTheDiagonalQuirk) {
  const auto cat = prompt("a cat on a mat", {"a", "cat", "on", "a", "mat"}, {5, 6, 7, 5, 8});
  const auto capy = prompt("a capybara on a mat", {"a", "capy", "bara", "on", "a", "mat"}, {5, 10, 11, 7, 5, 8});
  const at::Tensor m = p2p::replacement_mapper(cat, capy);
  ASSERT_EQ(m.sizes(), (at::IntArrayRef{77, 77}));
  EXPECT_EQ(m[0][0].item<float>(), 1.0f);
  EXPECT_EQ(m[1][1].item<float>(), 1.0f);
  EXPECT_EQ(m[2][2].item<float>(), 0.5f);  // cat -> capy, bara
  EXPECT_EQ(m[2][3].item<float>(), 0.5f);
  // After the swap the reference writes mapper[j, j]: "on" (source 3) is not mapped to target 4.
  EXPECT_EQ(m[3][4].item<float>(), 0.0f);
  EXPECT_EQ(m[4][4].item<float>(), 1.0f);
  EXPECT_EQ(m.sum().item<float>(), 77.0f - 1.0f);  // one source token spread, rows 4..76 on the diagonal, row 3 empty
  const auto longer = prompt("a cat on a big mat", {"a", "cat", "on", "a", "big", "mat"}, {5, 6, 7, 5, 12, 8});
  EXPECT_THROW(p2p::replacement_mapper(cat, longer), diffedit::InputError);
}

TEST(P2PWords, RefinementAlignsTheIdSequences) {
  const auto src = prompt("a cat", {"a", "cat"}, {5, 6});
  const auto tgt = prompt("a red cat", {"a", "red", "cat"}, {5, 7, 6});
  const auto r = p2p::refinement_mapper(src, tgt);
  const std::vector<std::int64_t> head = {0, 1, -1, 2, 3, 5, 6};  // BOS a [red] cat EOS, then positions map to themselves
  for (std::size_t k = 0; k < head.size(); ++k) EXPECT_EQ(r.index[static_cast<std::int64_t>(k)].item<std::int64_t>(), head[k]) << k;
  EXPECT_EQ(r.alphas[2].item<float>(), 0.0f);
  EXPECT_EQ(r.alphas.sum().item<float>(), 76.0f);
}

TEST(P2PWords, WindowsRoundWithTPlusOneForCrossAndTForSelf) {
  const auto p = prompt("a cat", {"a", "cat"}, {5, 6});
  p2p::CrossReplaceSteps steps;
  steps.default_window = {0.0, 0.8};
  steps.words = {{"cat", {0.0, 0.2}}};
  const at::Tensor alpha = p2p::cross_replace_alpha(p, 12, steps);
  ASSERT_EQ(alpha.sizes(), (at::IntArrayRef{13, 77}));
  EXPECT_EQ(alpha.select(1, 0).sum().item<float>(), 10.0f);                                            // int(0.8 * 13) = 10 steps
  EXPECT_EQ(alpha.select(1, 2).sum().item<float>(), 2.0f);                                             // "cat": int(0.2 * 13) = 2 steps
  EXPECT_EQ(p2p::self_replace_window(12, {0.0, 0.4}), (std::pair<std::int64_t, std::int64_t>{0, 4}));  // int(0.4 * 12)
  const at::Tensor eq = p2p::equalizer(p, {"cat"}, {2.5});
  EXPECT_EQ(eq[2].item<float>(), 2.5f);
  EXPECT_EQ(eq.sum().item<float>(), 76.0f + 2.5f);
  EXPECT_EQ(p2p::changed_words("a red cat", "a blue cat"),
            (std::pair<std::vector<std::string>, std::vector<std::string>>{{"red"}, {"blue"}}));
  EXPECT_EQ(p2p::changed_words("a cat", "a fluffy cat"), (std::pair<std::vector<std::string>, std::vector<std::string>>{{}, {"fluffy"}}));
}

TEST(P2PParameters, BadParametersAreConfigErrorsNamingTheKey) {
  EXPECT_NE(config_error({{"equalizer_words", {"cat"}}}).find("equalizer_values"), std::string::npos);
  EXPECT_NE(config_error({{"edit", "reweight"}}).find("equalizer_words"), std::string::npos);
  EXPECT_NE(config_error({{"edit", "swap"}}).find("edit"), std::string::npos);
  EXPECT_NE(config_error({{"cross_replace_steps", {0.1, 0.2, 0.3}}}).find("cross_replace_steps"), std::string::npos);
  EXPECT_NE(config_error({{"cross_replace_steps", 1.5}}).find("cross_replace_steps"), std::string::npos);
  EXPECT_NE(config_error({{"self_replace_steps", "half"}}).find("self_replace_steps"), std::string::npos);
  EXPECT_NE(config_error({{"local_blend_words", {{"cat"}}}}).find("local_blend_words"), std::string::npos);
  EXPECT_NE(config_error({{"local_blend_threshold", 2}}).find("local_blend_threshold"), std::string::npos);
  EXPECT_NE(config_error({{"cross_replace_step", 0.5}}).find("cross_replace_steps"), std::string::npos) << "did you mean";
  EXPECT_EQ(config_error({{"cross_replace_steps", {{"default_", 1.0}, {"bicycle", {0.0, 0.2}}}},
                          {"equalizer_words", {"cat"}},
                          {"equalizer_values", {2.0}},
                          {"local_blend_words", "changed"}}),
            "no error");
  const auto method = diffedit::editing::make_method("p2p", Json::object(), "cfg.json");
  const Json& p = method->parameters();
  EXPECT_EQ(p["edit"], "auto");
  EXPECT_EQ(p["cross_replace_steps"], 0.8);
  EXPECT_EQ(p["self_replace_steps"], 0.4);
  EXPECT_EQ(p["local_blend_threshold"], 0.3);
}
