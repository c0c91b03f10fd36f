// edit_shared: every setting's result equals its method run alone, bit for bit, while the mask map
// and the inversion are computed once; the evaluation accounting matches the theory.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>

#include "core/config.h"
#include "core/errors.h"
#include "edit_request.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "editing/shared_edits.h"
#include "test_support.h"
#include "tiny_pipeline.h"

namespace ed = diffedit::editing;
namespace pl = diffedit::pipelines;
using diffedit::config::Json;

namespace {

ed::EditRequest request(const pl::StableDiffusion& sd) { return diffedit::testing::tiny_edit_request(sd, 1234); }

void expect_same_as_alone(pl::StableDiffusion& sd, const ed::EditRequest& req, const std::vector<ed::Setting>& settings) {
  std::vector<ed::EditResult> shared(settings.size());
  std::vector<int> calls(settings.size(), 0);
  const std::int64_t before = sd.denoiser.evaluations();
  ed::edit_shared(sd, req, settings, [&](std::size_t i, ed::EditResult&& r) {
    shared[i] = std::move(r);
    ++calls[i];
  });
  const std::int64_t done = sd.denoiser.evaluations() - before;
  std::vector<const ed::EditResult*> pointers;
  std::int64_t independent = 0;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    ASSERT_EQ(calls[i], 1) << i;
    auto method = ed::make_method(settings[i].method, settings[i].parameters, "test");
    ed::SeededNoise noise(req.seed);
    const auto alone = method->edit(sd, req, noise);
    EXPECT_TRUE(at::equal(shared[i].image, alone.image)) << settings[i].method << " " << settings[i].parameters.dump();
    EXPECT_EQ(shared[i].mask.defined(), alone.mask.defined());
    if (alone.mask.defined()) {
      EXPECT_TRUE(at::equal(shared[i].mask, alone.mask));
    }
    EXPECT_EQ(shared[i].denoiser_evaluations, alone.denoiser_evaluations) << settings[i].parameters.dump();
    independent += alone.denoiser_evaluations;
    pointers.push_back(&shared[i]);
  }
  // What the sweep did equals the accounting from the results (text encoding is not a UNet call).
  std::int64_t accounted = 0, accounted_alone = 0;
  for (const auto& [kind, ev] : ed::evaluations_by_stage(pointers)) {
    accounted += ev.done;
    accounted_alone += ev.if_independent;
  }
  EXPECT_EQ(accounted, done);
  EXPECT_EQ(accounted_alone, independent);
  EXPECT_LT(done, independent);
}

}  // namespace

TEST(SharedEdits, PaperModeSweepEqualsStandaloneRunsAndSharesMaskAndInversion) {
  diffedit::testing::ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto req = request(sd);
  const std::int64_t steps = 8, n = 2;
  std::vector<ed::Setting> settings;
  for (double r : {0.25, 0.5, 1.0}) {
    for (double t : {0.25, 0.75})
      settings.push_back({"diffedit", Json{{"strength", r}, {"threshold", t}, {"steps", steps}, {"mask_samples", n}}});
    settings.push_back({"encode_decode", Json{{"strength", r}, {"steps", steps}}});
    settings.push_back({"sdedit", Json{{"strength", r}, {"steps", steps}}});
  }
  expect_same_as_alone(sd, req, settings);

  // The exact count: mask 2n once, one unconditional inversion of 8 steps, guided decodes 2k.
  std::vector<ed::EditResult> results(settings.size());
  const std::int64_t b = sd.denoiser.evaluations();
  ed::edit_shared(sd, req, settings, [&](std::size_t i, ed::EditResult&& r) { results[i] = std::move(r); });
  const std::int64_t k_sum = 2 + 4 + 8;  // steps at r = 0.25, 0.5, 1
  EXPECT_EQ(sd.denoiser.evaluations() - b, 2 * n + 8 + 2 * k_sum * 2 /*thresholds*/ + 2 * k_sum /*encode_decode*/ + 2 * k_sum /*sdedit*/);
}

TEST(SharedEdits, DiffusersModeSharesOnlyWhatTheNoiseStreamAllows) {
  diffedit::testing::ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto req = request(sd);
  std::vector<ed::Setting> settings;
  for (double r : {0.5, 1.0}) {
    settings.push_back(
        {"diffedit", Json{{"strength", r}, {"threshold", 0.5}, {"steps", 6}, {"mask_samples", 2}, {"mode", "diffusers_compat"}}});
    settings.push_back({"encode_decode", Json{{"strength", r}, {"steps", 6}, {"mode", "diffusers_compat"}}});
  }
  settings.push_back({"diffedit", Json{{"strength", 0.5}, {"threshold", 0.5}, {"steps", 6}, {"mask_samples", 3}}});  // another mask
  // Without the reference text (the paper's "w/o ref." variant): its own mask, the same inversion.
  settings.push_back(
      {"diffedit", Json{{"strength", 1.0}, {"threshold", 0.5}, {"steps", 6}, {"mask_samples", 3}, {"reference_text", "none"}}});
  settings.push_back(
      {"diffedit", Json{{"strength", 0.5}, {"threshold", 0.5}, {"steps", 6}, {"mask_samples", 3}, {"reference_text", "none"}}});
  expect_same_as_alone(sd, req, settings);
}

// Property: random settings over every DiffEdit-family parameter. Each round draws a base setting
// at random and adds, for every parameter and for the method, a copy of the base with only that
// one changed: a stage key that left a parameter out would hand one of such a pair the other's
// mask or inversion, and its result would differ from its standalone run.
TEST(SharedEdits, RandomSettingsOverEveryParameterEqualStandaloneRuns) {
  diffedit::testing::ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto req = request(sd);
  const std::map<std::string, std::vector<Json>> pools = {
      {"strength", {0.5, 1.0}},
      {"steps", {2, 4}},
      {"guidance", {1.0, 3.0}},
      {"mode", {"paper", "diffusers_compat"}},
      {"reference_text", {"dataset", "none"}},
      {"threshold", {0.3, 0.6}},
      {"mask_samples", {1, 2}},
      {"mask_strength", {0.5, 0.8}},
      {"mask_guidance", {nullptr, 2.0}},
      {"mask_guidance_order", {nullptr, "standard", "swapped"}},
      {"normalization", {nullptr, "clamp_mean_ratio", "quantile_minmax"}},
      {"clamp_ratio", {2.0, 3.0}},
      {"quantile", {0.9, 0.99}},
      {"encode_with_reference", {nullptr, true, false}},
      {"sample_posterior", {nullptr, true, false}},
      {"paste", {nullptr, "step_output", "step_input"}},
      {"mask_operator", {"latent", "glide"}},
      {"decode_negative", {"empty", "reference", "null_text"}},
      {"null_text_inner_steps", {0, 2}},
      {"null_text_early_stop_epsilon", {1e-5, 1e-2}},
  };
  const std::vector<std::string> methods = {"diffedit", "diffedit", "diffedit_oracle_mask", "encode_decode", "mask_no_encoding"};
  // Every parameter the family's schema has (defaults filled in) is drawn.
  for (const auto& m : {"diffedit", "diffedit_oracle_mask", "encode_decode", "mask_no_encoding"}) {
    const auto method = ed::make_method(m, Json::object(), "test");
    for (const auto& [key, value] : method->parameters().items())
      EXPECT_TRUE(pools.count(key)) << m << "'s parameter " << key << " is not drawn by this test";
  }

  std::mt19937 rng(20261205);
  auto pick = [&](const auto& pool) { return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)]; };
  auto other = [&](const auto& pool, const auto& current) {
    for (;;)
      if (auto v = pick(pool); v != current) return v;
  };
  // decode_negative null_text is refused where it cannot apply (mask_no_encoding; an inversion
  // guided by R): a base drawn so takes `reference`, variants drawn so are left out.
  auto valid = [](const ed::Setting& st) {
    try {
      ed::make_method(st.method, st.parameters, "test");
    } catch (const diffedit::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("decode_negative"), std::string::npos) << e.what();
      return false;
    }
    return true;
  };
  for (const char* base_method : {"diffedit", "diffedit", "mask_no_encoding", "diffedit_oracle_mask"}) {
    ed::Setting base{base_method, Json::object()};
    for (const auto& [key, pool] : pools) base.parameters[key] = pick(pool);
    if (!valid(base)) base.parameters["decode_negative"] = "reference";
    std::vector<ed::Setting> settings = {base};
    for (const auto& [key, pool] : pools) {
      ed::Setting changed = base;
      changed.parameters[key] = other(pool, base.parameters[key]);
      settings.push_back(changed);
    }
    ed::Setting changed = base;
    changed.method = other(methods, base.method);
    settings.push_back(changed);
    std::erase_if(settings, [&](const ed::Setting& st) { return !valid(st); });
    SCOPED_TRACE("base " + base.method + " " + base.parameters.dump());
    expect_same_as_alone(sd, req, settings);
  }
}

// decode_batch > 1: the family's decodings run in lockstep batches (chunks of 3 here, over two
// groups: guidance 3 and 1, which cannot share a call). Each result equals its standalone run up to
// float rounding (a batched convolution may sum in another order: measured here 2.6e-6 of the
// image range at most, asserted 1e-4), its mask bit for bit; each setting costs what it costs
// alone, and the sweep does exactly as many evaluations as without batching, in fewer calls.
TEST(SharedEdits, BatchedDecodingsEqualStandaloneRunsUpToRounding) {
  diffedit::testing::ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto req = request(sd);
  std::vector<ed::Setting> settings;
  for (const double r : {0.25, 0.5, 1.0})
    for (const double threshold : {0.3, 0.6})
      settings.push_back({"diffedit", {{"strength", r}, {"threshold", threshold}, {"steps", 4}, {"guidance", 3.0}, {"mask_samples", 2}}});
  settings.push_back({"encode_decode", {{"strength", 0.75}, {"steps", 4}, {"guidance", 3.0}}});
  settings.push_back({"mask_no_encoding", {{"strength", 0.5}, {"steps", 4}, {"guidance", 3.0}, {"mask_samples", 2}}});
  settings.push_back({"diffedit_oracle_mask", {{"strength", 1.0}, {"steps", 4}, {"guidance", 3.0}}});
  settings.push_back({"diffedit", {{"strength", 0.5}, {"steps", 4}, {"guidance", 1.0}, {"mask_samples", 2}}});
  settings.push_back({"diffedit", {{"strength", 1.0}, {"steps", 4}, {"guidance", 1.0}, {"mask_samples", 2}}});

  std::int64_t unbatched = sd.denoiser.evaluations();
  ed::edit_shared(sd, req, settings, [](std::size_t, ed::EditResult&&) {});
  unbatched = sd.denoiser.evaluations() - unbatched;

  std::vector<ed::EditResult> batched(settings.size());
  std::vector<int> calls(settings.size(), 0);
  const std::int64_t before = sd.denoiser.evaluations();
  ed::edit_shared(
      sd, req, settings,
      [&](std::size_t i, ed::EditResult&& r) {
        batched[i] = std::move(r);
        ++calls[i];
      },
      3);
  EXPECT_EQ(sd.denoiser.evaluations() - before, unbatched);
  double worst = 0;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    SCOPED_TRACE(settings[i].method + " " + settings[i].parameters.dump());
    ASSERT_EQ(calls[i], 1);
    auto method = ed::make_method(settings[i].method, settings[i].parameters, "test");
    ed::SeededNoise noise(req.seed);
    const auto alone = method->edit(sd, req, noise);
    ASSERT_EQ(batched[i].image.sizes(), alone.image.sizes());
    const double diff = (batched[i].image - alone.image).abs().max().item<double>();
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 1e-4);
    EXPECT_EQ(batched[i].mask.defined(), alone.mask.defined());
    if (alone.mask.defined()) {
      EXPECT_TRUE(at::equal(batched[i].mask, alone.mask));
    }
    EXPECT_EQ(batched[i].denoiser_evaluations, alone.denoiser_evaluations);
  }
  std::printf("batched decodings: largest image difference to standalone runs %.3g\n", worst);
}

// batch_items: two inputs (other image, texts and seed) whose family decodings are pooled into
// calls of up to 4, each under its own query. Every result equals its input edited alone up to
// float rounding (asserted 1e-4), masks bit for bit, and the pooled run does exactly the
// evaluations of the inputs run one after the other.
TEST(SharedEdits, ItemsPooledIntoBatchedDecodingsEqualEachItemAlone) {
  diffedit::testing::ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto first = request(sd);
  auto second = diffedit::testing::tiny_edit_request(sd, 99);
  second.image = at::rand_like(first.image);
  second.query = "a green triangle";
  second.reference = "a yellow square";
  std::vector<ed::Setting> settings;
  for (const double r : {0.5, 1.0})
    settings.push_back({"diffedit", {{"strength", r}, {"threshold", 0.5}, {"steps", 4}, {"guidance", 3.0}, {"mask_samples", 2}}});
  settings.push_back({"encode_decode", {{"strength", 0.75}, {"steps", 4}, {"guidance", 3.0}}});
  settings.push_back({"sdedit", {{"strength", 0.5}, {"steps", 4}, {"guidance", 3.0}}});
  const std::vector<ed::ItemSettings> items = {{&first, settings}, {&second, {settings[0], settings[2]}}};

  std::vector<std::vector<ed::EditResult>> alone(items.size());
  std::int64_t one_by_one = sd.denoiser.evaluations();
  for (std::size_t b = 0; b < items.size(); ++b) {
    alone[b].resize(items[b].settings.size());
    ed::edit_shared(sd, *items[b].request, items[b].settings, [&](std::size_t i, ed::EditResult&& r) { alone[b][i] = std::move(r); });
  }
  one_by_one = sd.denoiser.evaluations() - one_by_one;

  std::vector<std::vector<int>> calls = {std::vector<int>(items[0].settings.size()), std::vector<int>(items[1].settings.size())};
  std::vector<std::vector<ed::EditResult>> pooled = {std::vector<ed::EditResult>(items[0].settings.size()),
                                                     std::vector<ed::EditResult>(items[1].settings.size())};
  const std::int64_t before = sd.denoiser.evaluations();
  ed::edit_shared_items(
      sd, items,
      [&](std::size_t b, std::size_t i, ed::EditResult&& r) {
        pooled[b][i] = std::move(r);
        ++calls[b][i];
      },
      4);
  EXPECT_EQ(sd.denoiser.evaluations() - before, one_by_one);
  for (std::size_t b = 0; b < items.size(); ++b)
    for (std::size_t i = 0; i < items[b].settings.size(); ++i) {
      SCOPED_TRACE("item " + std::to_string(b) + " " + items[b].settings[i].method + " " + items[b].settings[i].parameters.dump());
      ASSERT_EQ(calls[b][i], 1);
      EXPECT_LE((pooled[b][i].image - alone[b][i].image).abs().max().item<double>(), 1e-4);
      EXPECT_EQ(pooled[b][i].mask.defined(), alone[b][i].mask.defined());
      if (alone[b][i].mask.defined()) {
        EXPECT_TRUE(at::equal(pooled[b][i].mask, alone[b][i].mask));
      }
      EXPECT_EQ(pooled[b][i].denoiser_evaluations, alone[b][i].denoiser_evaluations);
    }
  // The two inputs' edits differ (each decoded under its own query and image).
  EXPECT_GT((pooled[0][0].image - pooled[1][0].image).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(ed::edit_shared_items(
                   sd, items, [](std::size_t, std::size_t, ed::EditResult&&) {}, 1),
               diffedit::InputError);
}
