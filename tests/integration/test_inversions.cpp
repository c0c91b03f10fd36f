// PIE-Bench's inversions under Prompt-to-Prompt (`p2p` inversion null_text | negative_prompt |
// direct) on the embedded toy model and toy-world images: each reconstructs the input better than
// plain DDIM inversion when denoised under guidance 7.5 (their defining property; the PSNRs are
// printed), Direct Inversion's source branch ends exactly at the input's latent, the default stays
// the plain composition of DDIM inversion and P2P denoising, and the evaluations are counted.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "core/config.h"
#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/inversion.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "editing/p2p.h"
#include "editing/shared_edits.h"
#include "metrics/region.h"
#include "pipelines/pipeline.h"
#include "test_support.h"
#include "toy_edits.h"

namespace ed = diffedit::editing;
namespace p2p = diffedit::editing::p2p;
namespace pl = diffedit::pipelines;
using diffedit::config::Json;

namespace {

using diffedit::testing::input_latents;
using diffedit::testing::psnr;
using diffedit::testing::toy_sd;

ed::EditRequest toy_request(std::int64_t index) { return diffedit::testing::toy_request("toy-coco", index); }

p2p::Options options(const std::string& inversion, std::int64_t steps, double strength, const std::string& edit) {
  return p2p::options_from({{"steps", steps},
                            {"strength", strength},
                            {"guidance", 7.5},
                            {"edit", edit},
                            {"inversion", inversion},
                            {"cross_replace_steps", 0.4},
                            {"self_replace_steps", 0.6}});
}

}  // namespace

// The defining property: pure reconstruction (R as both prompts, no control) under guidance 7.5
// from the DDIM inversion under R at guidance 1. The guided denoising drifts from the inversion's
// trajectory; null-text's embeddings and Direct Inversion's resetting keep R's branch on it, the
// negative prompt makes R's guided prediction its unguided one. R's branch is the reconstruction
// (PIE-Bench's); with identical prompts and no control the Q branch equals it except under Direct
// Inversion, which corrects R's branch only.
TEST(P2PInversions, ReconstructBetterThanDDIMUnderGuidance) {
  auto& sd = toy_sd();
  const std::int64_t steps = 50;
  std::map<std::string, double> mean_source;
  const std::vector<std::string> inversions = {"reference", "negative_prompt", "null_text", "direct"};
  const std::int64_t items = 2;
  for (std::int64_t i = 0; i < items; ++i) {
    const auto req = toy_request(i);
    const at::Tensor x0 = input_latents(sd, req);
    std::printf("item %lld ('%s'):\n", static_cast<long long>(i), req.reference.c_str());
    for (const auto& inversion : inversions) {
      const std::int64_t before = sd.denoiser.evaluations();
      const auto out = p2p::p2p_edit(sd, x0, req.reference, req.reference, options(inversion, steps, 1.0, "none"));
      const double source = psnr(sd.decode(out.source), req.image), target = psnr(sd.decode(out.latents), req.image);
      std::printf("  %-16s reconstruction PSNR %6.2f dB (Q branch %6.2f dB), %lld evaluations\n", inversion.c_str(), source, target,
                  static_cast<long long>(sd.denoiser.evaluations() - before));
      mean_source[inversion] += source / static_cast<double>(items);
      if (inversion != "direct") {
        EXPECT_TRUE(at::allclose(out.source, out.latents, 1e-5, 1e-6)) << inversion;
      }
    }
  }
  const double ddim = mean_source["reference"];
  EXPECT_GT(mean_source["null_text"], ddim + 12.0);
  EXPECT_GT(mean_source["direct"], ddim + 12.0);
  EXPECT_GT(mean_source["negative_prompt"], ddim + 8.0);
}

// Direct Inversion: R's branch is set back onto the inversion trajectory after every step, so it
// ends exactly at the input's latent whatever the edit; the Q branch alone is left to the edit.
TEST(P2PInversions, DirectInversionKeepsTheSourceBranchOnTheTrajectory) {
  auto& sd = toy_sd();
  const auto req = toy_request(0);
  const at::Tensor x0 = input_latents(sd, req);
  const auto direct = p2p::p2p_edit(sd, x0, req.reference, req.query, options("direct", 10, 0.7, "auto"));
  EXPECT_TRUE(at::equal(direct.source, x0));
  // Without control the Q branch never sees R's: it is plain DDIM's.
  const auto plain = p2p::p2p_edit(sd, x0, req.reference, req.query, options("reference", 10, 0.7, "none"));
  const auto uncontrolled = p2p::p2p_edit(sd, x0, req.reference, req.query, options("direct", 10, 0.7, "none"));
  EXPECT_TRUE(at::allclose(uncontrolled.latents, plain.latents, 1e-5, 1e-6));
  EXPECT_FALSE(at::equal(plain.source, x0));
}

// The default inversion is the composition it always was: DDIM inversion under R at guidance 1,
// then P2P's denoising guided by the empty text; null-text without inner steps is the same, bit
// for bit, as is the negative prompt when R is empty.
TEST(P2PInversions, DefaultIsPlainDDIMInversionBitForBit) {
  auto& sd = toy_sd();
  const auto req = toy_request(1);
  const at::Tensor x0 = input_latents(sd, req);
  const std::int64_t steps = 10;
  const double r = 0.6;
  const auto o = options("reference", steps, r, "auto");
  const auto out = p2p::p2p_edit(sd, x0, req.reference, req.query, o);

  diffedit::diffusion::DDIMScheduler ddim(sd.scheduler);
  ddim.set_timesteps(steps);
  const auto ts = diffedit::diffusion::truncate_timesteps(ddim.timesteps(), r).denoise;
  const at::Tensor e = sd.encode_prompts({req.reference, req.query, ""});
  const ed::DiffEditTexts texts{.query = e.slice(0, 1, 2), .reference = e.slice(0, 0, 1), .empty = e.slice(0, 2, 3)};
  const auto inv = ed::ddim_invert(sd.denoiser, sd.scheduler, x0, texts, {.steps = steps, .with_reference = true, .guidance = 1.0}, r);
  auto spec = p2p::controller_spec(sd.tokenizer, req.reference, req.query, o, static_cast<std::int64_t>(ts.size()), x0.size(2), x0.size(3));
  ASSERT_TRUE(spec.has_value());
  p2p::Controller controller(*spec);
  const at::Tensor expected =
      ed::denoise_branches(sd.denoiser, sd.scheduler, inv.at_level(ts.front()), e.slice(0, 0, 2), texts.empty, ts, steps, 7.5, &controller);
  EXPECT_TRUE(at::equal(out.latents, expected.slice(0, 1, 2)));
  EXPECT_TRUE(at::equal(out.source, expected.slice(0, 0, 1)));

  auto no_inner = o;
  no_inner.branch.inversion = ed::InversionMethod::null_text;
  no_inner.branch.null_text.inner_steps = 0;
  EXPECT_TRUE(at::equal(p2p::p2p_edit(sd, x0, req.reference, req.query, no_inner).latents, out.latents));
  auto negative = o;
  negative.branch.inversion = ed::InversionMethod::negative_prompt;
  EXPECT_TRUE(at::equal(p2p::p2p_edit(sd, x0, "", req.query, negative).latents, p2p::p2p_edit(sd, x0, "", req.query, o).latents));
}

// Null-text's optimisation: the loss per step ends below the early-stop bound or after N steps,
// and the embeddings it returns are what reconstruction needs (one per step, the first moved from
// the empty text's).
TEST(P2PInversions, NullTextOptimisationStopsEarlyOrAfterTheInnerSteps) {
  auto& sd = toy_sd();
  const auto req = toy_request(0);
  const at::Tensor x0 = input_latents(sd, req);
  const std::int64_t steps = 10;
  diffedit::diffusion::DDIMScheduler ddim(sd.scheduler);
  ddim.set_timesteps(steps);
  const auto ts = diffedit::diffusion::truncate_timesteps(ddim.timesteps(), 0.5).denoise;
  const at::Tensor e = sd.encode_prompts({req.reference, ""});
  const ed::DiffEditTexts texts{.query = e.slice(0, 0, 1), .reference = e.slice(0, 0, 1), .empty = e.slice(0, 1, 2)};
  const auto inv = ed::ddim_invert(sd.denoiser, sd.scheduler, x0, texts, {.steps = steps, .with_reference = true, .guidance = 1.0}, 0.5);
  const ed::NullTextOptions o{.inner_steps = 4, .early_stop_epsilon = 1e-5};
  const std::int64_t before = sd.denoiser.evaluations();
  const auto nt = ed::null_text_optimization(sd.denoiser, sd.scheduler, inv, ts, steps, texts.reference, texts.empty, 7.5, o);
  const auto k = static_cast<std::int64_t>(ts.size());
  EXPECT_EQ(nt.embeddings.size(0), k);
  EXPECT_FALSE(at::equal(nt.embeddings.narrow(0, 0, 1), texts.empty));
  // Each step keeps its own (Adam updates in place: no step's embedding may alias the next's).
  EXPECT_FALSE(at::equal(nt.embeddings.narrow(0, 0, 1), nt.embeddings.narrow(0, k - 1, 1)));
  ASSERT_EQ(static_cast<std::int64_t>(nt.final_loss.size()), k);
  EXPECT_LE(nt.adam_steps, k * o.inner_steps);
  EXPECT_GE(nt.adam_steps, k);
  EXPECT_EQ(sd.denoiser.evaluations() - before, 2 * k + nt.adam_steps);
  // Unguided, the embedding does nothing: no optimisation.
  const auto unguided = ed::null_text_optimization(sd.denoiser, sd.scheduler, inv, ts, steps, texts.reference, texts.empty, 1.0, o);
  EXPECT_EQ(unguided.adam_steps, 0);
  EXPECT_TRUE(at::equal(unguided.embeddings.narrow(0, k - 1, 1), texts.empty));
}

// Through the method registry: the parameter is validated, the inversion and each phase's
// evaluations are recorded in the result's details, and the evaluations add up (null-text: one
// conditional prediction per step, one per Adam step, one for the step taken).
TEST(P2PInversions, MethodRecordsTheInversionAndCountsItsEvaluations) {
  auto& sd = toy_sd();
  const auto req = toy_request(0);
  const std::int64_t steps = 10;
  const double r = 0.5;
  const std::int64_t k = 5;
  for (const std::string inversion : {"reference", "unconditional", "negative_prompt", "direct", "null_text"}) {
    SCOPED_TRACE(inversion);
    auto method =
        ed::make_method("p2p", {{"steps", steps}, {"strength", r}, {"inversion", inversion}, {"null_text_inner_steps", 3}}, "test");
    ed::SeededNoise noise(0);
    const auto result = method->edit(sd, req, noise);
    const Json& d = result.details;
    EXPECT_EQ(d["inversion"], inversion);
    EXPECT_EQ(d["evaluations"]["inversion"], k);
    EXPECT_EQ(d["evaluations"]["denoising"], 4 * k);
    const std::int64_t adam = inversion == "null_text" ? d["null_text_adam_steps"].get<std::int64_t>() : 0;
    EXPECT_EQ(d["evaluations"]["null_text"], inversion == "null_text" ? 2 * k + adam : 0);
    EXPECT_EQ(result.denoiser_evaluations, k + 4 * k + d["evaluations"]["null_text"].get<std::int64_t>());
    if (inversion == "null_text") {
      EXPECT_TRUE(adam >= k && adam <= 3 * k) << adam;
    }
    // R's branch: exactly the input's latent under Direct Inversion (PSNR at its cap).
    const double reconstruction = d["reconstruction_psnr"];
    if (inversion == "direct") {
      EXPECT_EQ(reconstruction, diffedit::metrics::kMaxPsnrDb);
    } else {
      EXPECT_LT(reconstruction, diffedit::metrics::kMaxPsnrDb);
    }
  }
  auto err = [](const Json& p) {
    try {
      ed::make_method("p2p", p, "cfg.json");
    } catch (const diffedit::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err({{"inversion", "null-text"}}),
            "cfg.json: key 'inversion': \"null-text\" is not one of reference, unconditional, null_text, negative_prompt, direct "
            "(did you mean 'null_text'?)");
  EXPECT_NE(err({{"null_text_inner_steps", -1}}).find("null_text_inner_steps"), std::string::npos);
}

namespace {

// A box over the middle half of the image: DiffEdit decodes inside it.
at::Tensor box_mask(const at::Tensor& image) {
  const std::int64_t h = image.size(2), w = image.size(3);
  at::Tensor m = at::zeros({1, 1, h, w});
  m.narrow(2, h / 4, h / 2).narrow(3, w / 4, w / 2).fill_(1.0);
  return m;
}

// PSNR over the pixels where `mask` ([1, 1, H, W]) is 1.
double masked_psnr(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  const at::Tensor m = mask.expand_as(a);
  return diffedit::metrics::psnr_from_mse(((a - b).pow(2) * m).sum().item<double>() / m.sum().item<double>());
}

std::string config_error(const std::string& method, const Json& p) {
  try {
    ed::make_method(method, p, "cfg.json");
  } catch (const diffedit::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

// The defining property on DiffEdit's decoding: pure reconstruction (Q = R) from r = 1 under
// guidance 7.5, decoded inside a box (the oracle mask), the paper's encoding (DDIM inversion by
// the unconditional model). The empty negative drifts from the inversion's trajectory; R as the
// negative makes the guided prediction R's own (unguided, close to the inversion's); null-text's
// embeddings bring each guided step back onto it.
TEST(DiffEditInversions, ReconstructInsideTheMaskBetterThanTheEmptyNegative) {
  auto& sd = toy_sd();
  std::map<std::string, double> mean;
  const std::int64_t items = 2;
  for (std::int64_t i = 0; i < items; ++i) {
    auto req = toy_request(i);
    req.query = req.reference;
    req.oracle_mask = box_mask(req.image);
    std::printf("item %lld ('%s'):\n", static_cast<long long>(i), req.reference.c_str());
    for (const std::string negative : {"empty", "reference", "null_text"}) {
      auto method = ed::make_method("diffedit_oracle_mask",
                                    {{"strength", 1.0}, {"steps", 50}, {"guidance", 7.5}, {"decode_negative", negative}}, "test");
      ed::SeededNoise noise(req.seed);
      const auto result = method->edit(sd, req, noise);
      const double inside = masked_psnr(result.image, req.image, req.oracle_mask);
      std::printf("  decode_negative %-10s PSNR inside the mask %6.2f dB, %lld evaluations\n", negative.c_str(), inside,
                  static_cast<long long>(result.denoiser_evaluations));
      mean[negative] += inside / static_cast<double>(items);
      if (negative == "empty") {
        EXPECT_TRUE(result.details.is_null());
      } else {
        EXPECT_EQ(result.details["decode_negative"], negative);
      }
      // Inversion (unconditional, 50) + guided decoding (100) + null-text's optimisation.
      const std::int64_t adam = negative == "null_text" ? result.details["null_text_adam_steps"].get<std::int64_t>() : 0;
      EXPECT_EQ(result.denoiser_evaluations, 50 + 100 + (negative == "null_text" ? 2 * 50 + adam : 0));
    }
  }
  std::printf("mean: empty %.2f dB, reference %.2f dB, null_text %.2f dB\n", mean["empty"], mean["reference"], mean["null_text"]);
  // Measured on the toy model (mean of 2 items): empty 20.37 dB, reference 29.82 dB, null_text 33.71 dB.
  EXPECT_GT(mean["null_text"], mean["empty"] + 10.0);
  EXPECT_GT(mean["reference"], mean["empty"] + 6.0);
  EXPECT_GT(mean["null_text"], mean["reference"]);
}

// edit_shared: the new settings equal their standalone runs bit for bit; settings differing only
// in decode_negative share the mask and the inversion; null-text's embeddings are a stage of their
// own (shared by equal settings at other thresholds); the accounting adds up and the estimate
// predicts it (null-text's Adam steps as an upper bound, early stopping takes fewer).
TEST(DiffEditInversions, SharedRunsEqualStandaloneRuns) {
  auto& sd = toy_sd();
  const auto req = toy_request(0);
  const Json base = {{"steps", 10}, {"mask_samples", 2}, {"null_text_inner_steps", 3}};
  std::vector<ed::Setting> settings;
  auto add = [&](const std::string& method, Json extra) {
    Json p = base;
    p.update(extra);
    settings.push_back({method, p});
  };
  for (const std::string negative : {"empty", "reference", "null_text"})
    for (const double r : {0.3, 0.6}) add("diffedit", {{"strength", r}, {"decode_negative", negative}});
  add("diffedit", {{"strength", 0.6}, {"threshold", 0.25}, {"decode_negative", "null_text"}});
  add("encode_decode", {{"strength", 0.6}, {"decode_negative", "null_text"}});
  add("encode_decode", {{"strength", 0.6}, {"decode_negative", "reference"}});
  add("mask_no_encoding", {{"strength", 0.6}, {"decode_negative", "reference"}});
  add("diffedit", {{"strength", 0.6}, {"mode", "diffusers_compat"}, {"guidance", 1.0}, {"decode_negative", "null_text"}});

  std::vector<ed::EditResult> shared(settings.size());
  const std::int64_t before = sd.denoiser.evaluations();
  ed::edit_shared(sd, req, settings, [&](std::size_t i, ed::EditResult&& r) { shared[i] = std::move(r); });
  const std::int64_t done = sd.denoiser.evaluations() - before;
  std::vector<const ed::EditResult*> pointers;
  std::int64_t independent = 0;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    SCOPED_TRACE(settings[i].method + " " + settings[i].parameters.dump());
    auto method = ed::make_method(settings[i].method, settings[i].parameters, "test");
    ed::SeededNoise noise(req.seed);
    const auto alone = method->edit(sd, req, noise);
    EXPECT_TRUE(at::equal(shared[i].image, alone.image));
    EXPECT_EQ(shared[i].denoiser_evaluations, alone.denoiser_evaluations);
    EXPECT_EQ(shared[i].details, alone.details);
    independent += alone.denoiser_evaluations;
    pointers.push_back(&shared[i]);
  }
  // The decode_negative variants use the empty one's mask and inversion (same keys, same maps).
  for (std::size_t i : {2, 3, 4, 5}) {
    EXPECT_TRUE(at::equal(shared[i].mask, shared[i % 2].mask));
    ASSERT_GE(shared[i].shared.size(), 2u);
    EXPECT_EQ(shared[i].shared[0].key, shared[i % 2].shared[0].key);
    EXPECT_EQ(shared[i].shared[1].key, shared[i % 2].shared[1].key);
  }
  // Null-text at r = 0.6: one optimisation for both thresholds (and the unmasked ablation), its
  // own key per depth.
  ASSERT_EQ(shared[5].shared.size(), 3u);
  EXPECT_EQ(shared[5].shared[2].key.rfind("null_text ", 0), 0u) << shared[5].shared[2].key;
  EXPECT_EQ(shared[6].shared[2].key, shared[5].shared[2].key);
  EXPECT_EQ(shared[7].shared.back().key, shared[5].shared[2].key);
  EXPECT_NE(shared[4].shared[2].key, shared[5].shared[2].key);
  // Unguided, null-text has nothing to optimise: no stage, the default's decoding.
  EXPECT_EQ(shared[10].details["decode_negative"], "null_text");
  EXPECT_FALSE(shared[10].details.contains("null_text_adam_steps"));

  const auto by_stage = ed::evaluations_by_stage(pointers);
  std::int64_t accounted = 0, accounted_alone = 0;
  for (const auto& [kind, ev] : by_stage) {
    accounted += ev.done;
    accounted_alone += ev.if_independent;
  }
  EXPECT_EQ(accounted, done);
  EXPECT_EQ(accounted_alone, independent);
  std::printf("evaluations: %lld shared, %lld independent (null-text stage %lld, %lld)\n", static_cast<long long>(done),
              static_cast<long long>(independent), static_cast<long long>(by_stage.at("null_text").done),
              static_cast<long long>(by_stage.at("null_text").if_independent));
  const auto estimate = ed::estimate_evaluations(settings);
  for (const auto& [kind, ev] : by_stage) {
    SCOPED_TRACE(kind);
    ASSERT_TRUE(estimate.contains(kind));
    if (kind == "null_text") {
      // k (2 + N) per optimisation at most: k = 3 and 6.
      EXPECT_EQ(estimate.at(kind).done, 3 * 5 + 6 * 5);
      EXPECT_GE(estimate.at(kind).done, ev.done);
      EXPECT_GE(estimate.at(kind).if_independent, ev.if_independent);
    } else {
      EXPECT_EQ(estimate.at(kind).done, ev.done);
      EXPECT_EQ(estimate.at(kind).if_independent, ev.if_independent);
    }
  }
}

// Where null-text cannot apply, the config is refused naming the key: no DDIM inversion to
// optimise along (mask_no_encoding), or one guided by R (diffusers_compat's encoding at 7.5).
TEST(DiffEditInversions, NullTextRefusedWhereItCannotApply) {
  const std::string noised = config_error("mask_no_encoding", {{"decode_negative", "null_text"}});
  EXPECT_NE(noised.find("decode_negative"), std::string::npos) << noised;
  EXPECT_NE(noised.find("mask_no_encoding"), std::string::npos) << noised;
  const std::string guided = config_error("diffedit", {{"mode", "diffusers_compat"}, {"decode_negative", "null_text"}});
  EXPECT_NE(guided.find("decode_negative"), std::string::npos) << guided;
  EXPECT_NE(guided.find("guidance 1"), std::string::npos) << guided;
  const std::string with_reference = config_error("diffedit", {{"encode_with_reference", true}, {"decode_negative", "null_text"}});
  EXPECT_NE(with_reference.find("decode_negative"), std::string::npos) << with_reference;
  EXPECT_EQ(config_error("diffedit", {{"mode", "diffusers_compat"}, {"guidance", 1.0}, {"decode_negative", "null_text"}}), "no error");
  EXPECT_EQ(config_error("mask_no_encoding", {{"decode_negative", "reference"}}), "no error");
  EXPECT_EQ(config_error("diffedit_oracle_mask", {{"decode_negative", "null_text"}}), "no error");
  const std::string unknown = config_error("diffedit", {{"decode_negative", "null-text"}});
  EXPECT_NE(unknown.find("decode_negative"), std::string::npos) << unknown;
}
