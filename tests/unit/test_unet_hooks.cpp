// The UNet's hooks on projections and resnet features (models/unet_hooks.h) and the two controls
// built on them: MasaCtrl's mutual self-attention against its reference formulation (queries of
// each half attend to that half's first row, rearranged "(b h) n d -> h (b n) d"), Plug-and-Play's
// injection of the source's queries, keys and residual features; and every site naming the
// module diffusers' parameter names put there.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <string>

#include "editing/masactrl.h"
#include "editing/pnp.h"
#include "models/blocks.h"
#include "models/unet2d_condition.h"
#include "test_support.h"

namespace ed = diffedit::editing;
namespace models = diffedit::models;

namespace {

constexpr std::int64_t kHeads = 2, kHeadDim = 4, kDim = kHeads * kHeadDim;

models::Attention self_attention() {
  torch::manual_seed(3);
  return models::Attention(models::AttentionOptions{.query_dim = kDim, .heads = kHeads, .head_dim = kHeadDim});
}

// MasaCtrl's attn_batch: [b, n, h*d] rows of one half -> per head, the queries of all rows against
// the keys and values of `kv` (one row).
at::Tensor masactrl_attn_batch(const at::Tensor& q, const at::Tensor& kv_k, const at::Tensor& kv_v) {
  const std::int64_t b = q.size(0), n = q.size(1);
  auto heads_first = [&](const at::Tensor& t) {  // "b n (h d) -> h (b n) d"
    return t.reshape({t.size(0), t.size(1), kHeads, kHeadDim}).permute({2, 0, 1, 3}).reshape({kHeads, t.size(0) * t.size(1), kHeadDim});
  };
  const at::Tensor qh = heads_first(q), kh = heads_first(kv_k), vh = heads_first(kv_v);
  const at::Tensor attn = (at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(static_cast<double>(kHeadDim))).softmax(-1);
  return at::matmul(attn, vh).reshape({kHeads, b, n, kHeadDim}).permute({1, 2, 0, 3}).reshape({b, n, kDim});  // "h (b n) d -> b n (h d)"
}

const models::AttentionSite kSelf{.index = 20, .is_cross = false, .place = models::UNetPlace::up, .block = 1, .layer = 1};

}  // namespace

TEST(UNetHooks, MutualSelfAttentionIsMasaCtrlsAttentionToEachHalfsSourceRow) {
  torch::NoGradGuard no_grad;
  auto attention = self_attention();
  const at::Tensor x = at::randn({4, 6, kDim});  // [S_uncond, Q_uncond, S_cond, Q_cond]
  ed::masactrl::MutualSelfAttention control(/*start_step=*/1, /*start_layer=*/10);
  control.set_guided(true);
  control.begin_step(1);
  attention->set_hook(&control, kSelf);  // block 10 (index 20 / 2): controlled
  const at::Tensor out = attention->forward(x);

  const at::Tensor q = attention->to_q->forward(x), k = attention->to_k->forward(x), v = attention->to_v->forward(x);
  for (std::int64_t half : {0, 2}) {
    const at::Tensor expected = attention->to_out[0]->as<torch::nn::Linear>()->forward(
        masactrl_attn_batch(q.narrow(0, half, 2), k.narrow(0, half, 1), v.narrow(0, half, 1)));
    EXPECT_TRUE(at::allclose(out.narrow(0, half, 2), expected, 1e-5, 1e-6)) << "half " << half;
  }
  // The source rows attend to themselves: plain attention.
  attention->set_hook(nullptr, {});
  const at::Tensor plain = attention->forward(x);
  EXPECT_TRUE(at::allclose(out.narrow(0, 0, 1), plain.narrow(0, 0, 1), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(out.narrow(0, 1, 1), plain.narrow(0, 1, 1), 1e-3, 1e-3));

  // Outside the control: before start_step, below start_layer, cross-attention.
  for (const auto& [step, site] : {std::pair{0, kSelf}, std::pair{1, models::AttentionSite{.index = 18}},
                                   std::pair{1, models::AttentionSite{.index = 21, .is_cross = true}}}) {
    control.begin_step(step);
    attention->set_hook(&control, site);
    EXPECT_TRUE(at::equal(attention->forward(x), plain)) << "step " << step << ", site " << site.index;
  }
}

TEST(UNetHooks, PlugAndPlayInjectsTheSourcesQueriesKeysAndFeatures) {
  torch::NoGradGuard no_grad;
  auto attention = self_attention();
  const at::Tensor x = at::randn({3, 6, kDim});  // [source, target uncond, target cond]
  ed::pnp::Injection injection(/*feature_steps=*/2, /*attention_steps=*/1, /*feature_resnet=*/{1, 1}, /*attention_from=*/{1, 1});
  injection.begin_step(0);
  attention->set_hook(&injection, kSelf);
  const at::Tensor out = attention->forward(x);
  const at::Tensor q = attention->to_q->forward(x), k = attention->to_k->forward(x), v = attention->to_v->forward(x);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  for (std::int64_t row = 0; row < 3; ++row) {
    // The source's map (its q and k) over the row's own values.
    at::Tensor o = at::empty({1, 6, kDim});
    for (std::int64_t h = 0; h < kHeads; ++h) {
      auto head = [&](const at::Tensor& t, std::int64_t r) { return t.narrow(0, r, 1).narrow(2, h * kHeadDim, kHeadDim); };
      const at::Tensor map = (at::matmul(head(q, 0), head(k, 0).transpose(1, 2)) * scale).softmax(-1);
      o.narrow(2, h * kHeadDim, kHeadDim).copy_(at::matmul(map, head(v, row)));
    }
    EXPECT_TRUE(at::allclose(out.narrow(0, row, 1), attention->to_out[0]->as<torch::nn::Linear>()->forward(o), 1e-5, 1e-6)) << row;
  }
  EXPECT_EQ(injection.attention_injections(), 1);
  // Not injected: an earlier decoder block, the encoder, cross-attention, a later step.
  attention->set_hook(nullptr, {});
  const at::Tensor plain = attention->forward(x);
  for (const auto& site : {models::AttentionSite{.place = models::UNetPlace::up, .block = 1, .layer = 0},
                           models::AttentionSite{.place = models::UNetPlace::down, .block = 2, .layer = 1},
                           models::AttentionSite{.is_cross = true, .place = models::UNetPlace::up, .block = 2}}) {
    attention->set_hook(&injection, site);
    EXPECT_TRUE(at::equal(attention->forward(x), plain));
  }
  injection.begin_step(1);
  attention->set_hook(&injection, models::AttentionSite{.place = models::UNetPlace::up, .block = 3, .layer = 2});
  EXPECT_TRUE(at::equal(attention->forward(x), plain));
  EXPECT_EQ(injection.attention_injections(), 1);

  // Features: the target rows add the source's residual to their own shortcut, in the window.
  torch::manual_seed(4);
  models::ResnetBlock2D resnet(8, 8, 0, 4, 1e-6);
  const at::Tensor fx = at::randn({3, 8, 5, 5});
  const at::Tensor own = resnet->forward(fx);
  resnet->set_hook(&injection, models::ResnetSite{.place = models::UNetPlace::up, .block = 1, .layer = 1});
  const at::Tensor injected = resnet->forward(fx);  // step 1 < feature_steps 2
  const at::Tensor source_residual = own.narrow(0, 0, 1) - fx.narrow(0, 0, 1);
  for (std::int64_t row = 0; row < 3; ++row)
    EXPECT_TRUE(at::allclose(injected.narrow(0, row, 1), fx.narrow(0, row, 1) + source_residual, 1e-5, 1e-6)) << row;
  EXPECT_EQ(injection.feature_injections(), 1);
  injection.begin_step(2);
  EXPECT_TRUE(at::equal(resnet->forward(fx), own));
  resnet->set_hook(&injection, models::ResnetSite{.place = models::UNetPlace::up, .block = 1, .layer = 0});
  injection.begin_step(0);
  EXPECT_TRUE(at::equal(resnet->forward(fx), own));
}

// Each site's (place, block, layer, transformer) is the module diffusers' names put there.
TEST(UNetHooks, SitesNameTheirModules) {
  const auto unet = models::load_unet(diffedit::testing::source_dir() / "models" / "toy-sd" / "unet");
  std::set<std::string> names;
  for (const auto& p : unet->named_parameters()) names.insert(p.key());
  auto prefix = [](models::UNetPlace place, std::int64_t block) {
    return place == models::UNetPlace::mid
               ? std::string("mid_block")
               : std::string(place == models::UNetPlace::down ? "down_blocks." : "up_blocks.") + std::to_string(block);
  };
  const auto sites = unet->attention_sites();
  ASSERT_FALSE(sites.empty());
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const auto& s = sites[i];
    EXPECT_EQ(s.index, static_cast<std::int64_t>(i));
    const std::string name = prefix(s.place, s.block) + ".attentions." + std::to_string(s.layer) + ".transformer_blocks." +
                             std::to_string(s.transformer) + (s.is_cross ? ".attn2" : ".attn1") + ".to_q.weight";
    EXPECT_TRUE(names.count(name)) << name;
  }
  const auto resnets = unet->resnet_sites();
  std::int64_t named = 0;
  for (const auto& s : resnets) {
    const std::string name = prefix(s.place, s.block) + ".resnets." + std::to_string(s.layer) + ".conv1.weight";
    EXPECT_TRUE(names.count(name)) << name;
    ++named;
  }
  std::int64_t all = 0;
  for (const auto& n : names)
    if (n.find(".resnets.") != std::string::npos && n.size() > 13 && n.compare(n.size() - 13, 13, ".conv1.weight") == 0) ++all;
  EXPECT_EQ(named, all);
}
