// MasaCtrl and Plug-and-Play (PIE-Bench's other two editors, `masactrl` and `pnp`) on the embedded
// toy model and toy-world images: their defining property (the edit takes the input's content from
// the source branch: closer to the input with the control than without it; the PSNRs are printed),
// the inversions' effect on the source branch, the evaluations counted, and errors that name the
// key when the UNet lacks the configured layers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <utility>

#include "core/config.h"
#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/dual_branch.h"
#include "editing/masactrl.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "editing/pnp.h"
#include "metrics/region.h"
#include "models/unet2d_condition.h"
#include "pipelines/pipeline.h"
#include "test_support.h"
#include "toy_edits.h"

namespace ed = diffedit::editing;
using diffedit::config::Json;

namespace {

using diffedit::testing::input_latents;
using diffedit::testing::psnr;
using diffedit::testing::toy_sd;

ed::EditRequest toy_request(std::int64_t index) { return diffedit::testing::toy_request("toy-coco", index); }

// PSNR outside the item's true edit region (what an edit should keep; PIE-Bench's background PSNR).
double background_psnr(const at::Tensor& edited, const ed::EditRequest& r) {
  const at::Tensor keep = 1.0 - r.oracle_mask.to(at::kFloat);
  return diffedit::metrics::psnr_from_mse(((edited - r.image).pow(2) * keep).sum().item<double>() / (keep.sum().item<double>() * 3.0));
}

// The toy UNet's layout (7 transformer blocks; its decoder's lowest level, 4x4, is up_blocks[0])
// in the places SD 1.x's defaults name: MasaCtrl's decoder blocks above the lowest level, PnP's
// second resnet and attentions from the second of the decoder level at a quarter of the latent.
ed::masactrl::Options masactrl_options(const std::string& inversion, std::int64_t steps, std::int64_t start_step) {
  return ed::masactrl::options_from(
      {{"steps", steps}, {"strength", 1.0}, {"guidance", 5.0}, {"inversion", inversion}, {"start_step", start_step}, {"start_layer", 5}});
}

ed::pnp::Options pnp_options(const std::string& inversion, std::int64_t steps, double feature_steps, double attention_steps) {
  return ed::pnp::options_from({{"steps", steps},
                                {"negative_prompt", ""},
                                {"strength", 1.0},
                                {"guidance", 5.0},
                                {"inversion", inversion},
                                {"feature_steps", feature_steps},
                                {"attention_steps", attention_steps},
                                {"feature_resnet", {0, 1}},
                                {"attention_from", {0, 1}}});
}

}  // namespace

// The defining property, measured: with Q's self-attention reading the source's keys and values
// (from step 2 of 20 on, in the decoder blocks above its lowest level), the edit keeps more of the
// input outside the edited region than the same denoising without the control. Both DDIM and
// Direct Inversion; the source branch under Direct Inversion ends exactly at the input's latent.
TEST(MasaCtrl, MutualSelfAttentionKeepsMoreOfTheInputThanNoControl) {
  auto& sd = toy_sd();
  const std::int64_t steps = 20, items = 8;
  for (const std::string inversion : {"reference", "direct"}) {
    double with = 0, without = 0;
    for (std::int64_t i = 0; i < items; ++i) {
      const auto req = toy_request(i);
      const at::Tensor x0 = input_latents(sd, req);
      const std::int64_t before = sd.denoiser.evaluations();
      const auto controlled = ed::masactrl::masactrl_edit(sd, x0, "", req.query, masactrl_options(inversion, steps, 2));
      EXPECT_EQ(sd.denoiser.evaluations() - before, steps + 4 * steps);  // inversion, then [S, Q] guided
      const auto free = ed::masactrl::masactrl_edit(sd, x0, "", req.query, masactrl_options(inversion, steps, steps));
      with += background_psnr(sd.decode(controlled.latents), req) / items;
      without += background_psnr(sd.decode(free.latents), req) / items;
      if (inversion == "direct") {
        EXPECT_TRUE(at::equal(controlled.source, x0));
      }
    }
    std::printf("masactrl %-9s background PSNR %.2f dB with mutual self-attention, %.2f dB without\n", inversion.c_str(), with, without);
    EXPECT_GT(with, without + 0.3) << inversion;
  }
}

// A control that never applies is inert: bit for bit the dual-branch skeleton without a hook.
TEST(MasaCtrl, OutsideItsStepsItIsThePlainDualBranchDenoising) {
  auto& sd = toy_sd();
  const auto req = toy_request(1);
  const at::Tensor x0 = input_latents(sd, req);
  const auto o = masactrl_options("reference", 10, 10);
  const auto out = ed::masactrl::masactrl_edit(sd, x0, "", req.query, o);
  const auto plain = ed::dual_branch_edit(sd, x0, "", req.query, o.branch, {});
  EXPECT_TRUE(at::equal(out.latents, plain.latents));
  EXPECT_TRUE(at::equal(out.source, plain.source));
  auto far = o;
  far.start_layer = 7;  // the toy UNet has 7 transformer blocks
  try {
    ed::masactrl::masactrl_edit(sd, x0, "", req.query, far);
    ADD_FAILURE() << "no error";
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("start_layer 7 but the UNet has 7 transformer blocks"), std::string::npos) << e.what();
  }
}

// Records, for every self-attention map of the decoder, whether the target rows' map equals the
// source row's: under the injection, exactly at the injected sites and steps.
class MapRecorder : public ed::pnp::Injection {
 public:
  using Injection::Injection;
  void begin(std::int64_t step) {
    step_ = step;
    begin_step(step);
  }
  bool wants(const diffedit::models::AttentionSite& site, std::int64_t) override {
    return !site.is_cross && site.place == diffedit::models::UNetPlace::up;
  }
  at::Tensor on_probs(const diffedit::models::AttentionSite& site, at::Tensor probs) override {
    const std::int64_t heads = probs.size(0) / 3;
    const at::Tensor source = probs.narrow(0, 0, heads);
    const bool same = at::equal(probs.narrow(0, heads, heads), source) && at::equal(probs.narrow(0, 2 * heads, heads), source);
    (same ? equal_ : differ_).insert({step_, site.block * 10 + site.layer});
    return probs;
  }
  std::set<std::pair<std::int64_t, std::int64_t>> equal_, differ_;

 private:
  std::int64_t step_ = 0;
};

// Plug-and-Play's defining mechanism in the whole UNet: during the first attention_steps the
// target rows' decoder self-attention maps are the source's, from attention_from on, and only
// there; then the measured effect on the toy world (printed, not asserted: the toy UNet's features
// carry little layout), the source rows of both inversions and the evaluations.
TEST(PlugAndPlay, TargetRowsTakeTheSourcesMapsWhereAndWhenInjected) {
  auto& sd = toy_sd();
  const auto req = toy_request(0);
  const at::Tensor x0 = input_latents(sd, req);
  const std::int64_t steps = 10;
  const auto o = pnp_options("direct", steps, 0.8, 0.5);
  const at::Tensor e = sd.encode_prompts({"", "", req.query});
  diffedit::diffusion::DDIMScheduler ddim(sd.scheduler);
  ddim.set_timesteps(steps);
  const auto ts = ddim.timesteps();
  const at::Tensor start = at::randn_like(x0);
  std::vector<at::Tensor> sources;
  for (std::size_t k = 0; k < ts.size(); ++k) sources.push_back(at::randn_like(x0));
  MapRecorder recorder(8, 5, o.feature_resnet, o.attention_from);
  // The UNet calls of pnp_denoise, one per step, with random latents (the maps only depend on the rows' q and k).
  for (std::size_t k = 0; k < ts.size(); ++k) {
    recorder.begin(static_cast<std::int64_t>(k));
    diffedit::models::ScopedUNetHooks hooks(sd.denoiser.unet(), &recorder, &recorder);
    sd.denoiser.predict(at::cat({sources[k], start, start}), ts[k], e);
  }
  // The toy decoder's self-attention: up_blocks[0] and [1], two attentions each; from [0, 1] on.
  for (std::int64_t k = 0; k < steps; ++k)
    for (std::int64_t site : {0, 1, 10, 11}) {
      const bool injected = k < 5 && site >= 1;
      EXPECT_EQ(recorder.equal_.count({k, site}), injected ? 1u : 0u) << "step " << k << " site " << site;
      EXPECT_EQ(recorder.differ_.count({k, site}), injected ? 0u : 1u) << "step " << k << " site " << site;
    }
  EXPECT_EQ(recorder.feature_injections(), 8);
}

TEST(PlugAndPlay, InversionsEvaluationsAndTheToyEffect) {
  auto& sd = toy_sd();
  const std::int64_t steps = 20, items = 4;
  for (const std::string inversion : {"reference", "direct"}) {
    double with = 0, without = 0, source = 0;
    for (std::int64_t i = 0; i < items; ++i) {
      const auto req = toy_request(i);
      const at::Tensor x0 = input_latents(sd, req);
      const std::int64_t before = sd.denoiser.evaluations();
      const auto injected = ed::pnp::pnp_edit(sd, x0, req.reference, req.query, pnp_options(inversion, steps, 0.8, 0.5));
      // Inversion, the reconstruction (reference only), then [source, target, target] per step.
      EXPECT_EQ(sd.denoiser.evaluations() - before, steps + (inversion == "reference" ? steps : 0) + 3 * steps);
      // Per step 3 decoder attentions from [0, 1] on (10 steps), one resnet (16 steps).
      EXPECT_EQ(injected.details["injections"], Json({{"attention", 30}, {"features", 16}}));
      const auto free = ed::pnp::pnp_edit(sd, x0, req.reference, req.query, pnp_options(inversion, steps, 0.0, 0.0));
      with += background_psnr(sd.decode(injected.latents), req) / items;
      without += background_psnr(sd.decode(free.latents), req) / items;
      source += psnr(sd.decode(injected.source), req.image) / items;
      if (inversion == "direct") {
        EXPECT_TRUE(at::equal(injected.source, x0));
      }
    }
    std::printf("pnp %-9s background PSNR %.2f dB injected, %.2f dB without; source row ends at %.2f dB\n", inversion.c_str(), with,
                without, source);
  }
  // The reference's source row is the DDIM reconstruction: not exact, unlike direct's.
  const auto req = toy_request(0);
  const at::Tensor x0 = input_latents(sd, req);
  EXPECT_FALSE(at::equal(ed::pnp::pnp_edit(sd, x0, req.reference, req.query, pnp_options("reference", 10, 0.8, 0.5)).source, x0));
}

// The methods through the registry: the record's details, and errors naming the key.
TEST(PlugAndPlay, MethodsRecordTheirReconstructionAndNameBadLayers) {
  auto& sd = toy_sd();
  const auto req = toy_request(2);
  ed::SeededNoise noise(0);
  auto pnp = ed::make_method(
      "pnp", {{"steps", 6}, {"guidance", 5.0}, {"strength", 1.0}, {"feature_resnet", {0, 1}}, {"attention_from", {0, 1}}}, "test");
  const auto r = pnp->edit(sd, req, noise);
  EXPECT_EQ(r.denoiser_evaluations, 6 + 6 + 18);
  EXPECT_TRUE(r.details.contains("reconstruction_psnr"));
  auto masa = ed::make_method("masactrl", {{"steps", 6}, {"guidance", 5.0}, {"strength", 1.0}, {"start_layer", 5}}, "test");
  const auto m = masa->edit(sd, req, noise);
  EXPECT_EQ(m.denoiser_evaluations, 6 + 24);
  EXPECT_EQ(m.details["inversion"], "reference");
  auto bad = ed::make_method("pnp", {{"steps", 4}, {"feature_resnet", {5, 0}}}, "test");
  try {
    bad->edit(sd, req, noise);
    ADD_FAILURE() << "no error";
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("feature_resnet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("up_blocks[5].resnets[0]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ed::make_method("pnp", {{"inversion", "null_text"}}, "test"), diffedit::ConfigError);
}
