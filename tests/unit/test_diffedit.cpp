// DiffEdit's steps on analytic denoisers whose answers are known in closed form.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"

namespace ed = diffedit::editing;
namespace pl = diffedit::pipelines;

namespace {

diffedit::diffusion::SchedulerConfig sd_schedule() {
  return diffedit::diffusion::SchedulerConfig::from_json({{"beta_start", 0.00085},
                                                          {"beta_end", 0.012},
                                                          {"beta_schedule", "scaled_linear"},
                                                          {"clip_sample", false},
                                                          {"set_alpha_to_one", false},
                                                          {"steps_offset", 1}},
                                                         "sd");
}

// Texts are one-token embeddings [1, 1, 1] holding an id: 0 = empty, 1 = reference, 2 = query.
at::Tensor text(float id) { return at::full({1, 1, 1}, id); }
ed::DiffEditTexts texts() { return {.query = text(2), .reference = text(1), .empty = text(0)}; }

// eps = 0.1 x everywhere; under the query, +1 inside `region` (a [h, w] 0/1 map).
pl::Denoiser region_denoiser(const at::Tensor& region) {
  return pl::Denoiser([region](const at::Tensor& x, std::int64_t, const at::Tensor& ctx) {
    const at::Tensor is_query = (ctx.select(1, 0).select(1, 0) == 2).to(at::kFloat).view({-1, 1, 1, 1});
    return x * 0.1 + is_query * region.view({1, 1, region.size(0), region.size(1)});
  });
}

}  // namespace

TEST(DiffEdit, MaskIsExactlyTheRegionWherePredictionsDiffer) {
  at::Tensor region = at::zeros({8, 8});
  region.slice(0, 2, 5).slice(1, 3, 7).fill_(1);
  auto denoiser = region_denoiser(region);
  auto o = ed::DiffEditOptions::preset(ed::DiffEditMode::paper);
  o.steps = 10;
  ed::SeededNoise noise(0);
  const auto m = ed::estimate_mask(denoiser, sd_schedule(), at::randn({1, 4, 8, 8}), texts(), o.mask_stage(), noise);
  EXPECT_TRUE(at::equal(m.binarize(0.5)[0][0], region)) << "mask = region";
  EXPECT_EQ(denoiser.evaluations(), 2 * o.mask_samples) << "paper mode: no guidance in the contrast";
  EXPECT_EQ(m.binarize(1.0).sum().item<float>(), 0.0f) << "threshold 1 gives an empty mask";
}

TEST(DiffEdit, PaperModeRescalesTheMapMinMaxDiffusersDividesByThreeTimesTheMean) {
  // Predictions differ by 0.5 everywhere and by 1.5 inside the region: the paper's rule (outliers
  // clipped at the 0.99 quantile, then min-max to [0, 1]) maps them to exactly 0 and 1; diffusers'
  // rule (clamp at 3x the mean, divide by the clamp) leaves the outside at 0.5 / clamp.
  at::Tensor region = at::zeros({8, 8});
  region.slice(0, 1, 5).slice(1, 2, 6).fill_(1);
  pl::Denoiser denoiser([region](const at::Tensor& x, std::int64_t, const at::Tensor& ctx) {
    const at::Tensor is_query = (ctx.select(1, 0).select(1, 0) == 2).to(at::kFloat).view({-1, 1, 1, 1});
    return x * 0.1 + is_query * (0.5 + region.view({1, 1, 8, 8}));
  });
  const diffedit::config::Json base = {{"strength", 0.5}, {"steps", 10}, {"guidance", 1.0}};
  auto options = [&](const char* mode, diffedit::config::Json extra = diffedit::config::Json::object()) {
    diffedit::config::Json p = base;
    p["mode"] = mode;
    p.update(extra);
    return ed::diffedit_options(p);
  };
  auto map = [&](const ed::DiffEditOptions& o) {
    ed::SeededNoise noise(0);
    return ed::estimate_mask(denoiser, sd_schedule(), at::randn({1, 4, 8, 8}), texts(), o.mask_stage(), noise).map[0];
  };
  const auto paper = options("paper");
  EXPECT_EQ(paper.normalization, ed::MaskNormalization::quantile_minmax);
  const at::Tensor m = map(paper);
  EXPECT_NEAR((m - region).abs().max().item<double>(), 0.0, 1e-6) << "outside 0, inside 1";
  const auto compat = options("diffusers_compat", {{"mask_guidance", 1.0}});
  EXPECT_EQ(compat.normalization, ed::MaskNormalization::clamp_mean_ratio);
  const double mean = 0.5 + region.mean().item<double>(), clamp = 3 * mean;
  EXPECT_NEAR(map(compat)[0][0].item<double>(), 0.5 / clamp, 1e-6);
  EXPECT_NEAR(map(compat)[2][3].item<double>(), 1.5 / clamp, 1e-6);
  // An explicit normalisation overrides the mode's.
  EXPECT_EQ(options("paper", {{"normalization", "clamp_mean_ratio"}}).normalization, ed::MaskNormalization::clamp_mean_ratio);
  EXPECT_EQ(options("diffusers_compat", {{"normalization", "quantile_minmax"}}).normalization, ed::MaskNormalization::quantile_minmax);
}

TEST(DiffEdit, EmptyMaskReturnsTheEncodedInputAndStrengthZeroTheInput) {
  auto denoiser = region_denoiser(at::ones({8, 8}));
  auto o = ed::DiffEditOptions::preset(ed::DiffEditMode::paper);
  o.steps = 10;
  o.strength = 0.6;
  at::manual_seed(1);
  const at::Tensor x0 = at::randn({1, 4, 8, 8});
  const auto inv = ed::ddim_invert(denoiser, sd_schedule(), x0, texts(), o.inversion_stage(), o.strength);
  EXPECT_EQ(inv.latents.size(), 6u);
  EXPECT_EQ(denoiser.evaluations(), 6) << "paper mode: unconditional encoding, no guidance";
  std::vector<at::Tensor> steps;
  const at::Tensor out = ed::masked_decode(denoiser, sd_schedule(), inv, at::zeros({1, 1, 8, 8}), texts(), o.decode_stage(), &steps);
  EXPECT_TRUE(at::equal(out, x0)) << "an empty mask pastes the encoded latents back, the clean one last";
  // Every step pastes the encoded latent of its output level outside the mask.
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) EXPECT_TRUE(at::equal(steps[i], inv.latents[inv.latents.size() - 2 - i]));
  // A partial mask: outside it, every step holds exactly the encoded latent of its output level.
  at::Tensor half = at::zeros({1, 1, 8, 8});
  half.slice(2, 0, 4).fill_(1);
  steps.clear();
  ed::masked_decode(denoiser, sd_schedule(), inv, half, texts(), o.decode_stage(), &steps);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const at::Tensor& encoded = i + 1 < steps.size() ? inv.latents[inv.latents.size() - 2 - i] : x0;
    EXPECT_TRUE(at::equal(steps[i] * (1 - half), encoded * (1 - half))) << "step " << i;
    EXPECT_FALSE(at::equal(steps[i] * half, encoded * half)) << "step " << i << " edits inside the mask";
  }
  o.strength = 0.0;
  EXPECT_TRUE(at::equal(ed::masked_decode(denoiser, sd_schedule(), inv, at::ones({1, 1, 8, 8}), texts(), o.decode_stage()), x0))
      << "r = 0 returns the input";
}

TEST(DiffEdit, GlideOperatorTakesEachStepFromTheCorrectedEstimate) {
  // With a denoiser that predicts eps = 0, x0_hat = x_t / sqrt(a_t) and each DDIM step is
  // sqrt(a_prev) x0_hat. The GLIDE-style operator replaces x0_hat by the input's latent outside the
  // mask, so after the last step the outside holds sqrt(a_final) x0 (not x0 itself, which the
  // latent operator pastes); inside a full mask both operators are the plain decoding.
  pl::Denoiser zero([](const at::Tensor& x, std::int64_t, const at::Tensor&) { return at::zeros_like(x); });
  auto o = ed::DiffEditOptions::preset(ed::DiffEditMode::paper);
  o.steps = 10;
  o.strength = 0.6;
  o.guidance = 1.0;
  at::manual_seed(2);
  const at::Tensor x0 = at::randn({1, 4, 8, 8});
  const auto inv = ed::ddim_invert(zero, sd_schedule(), x0, texts(), o.inversion_stage(), o.strength);
  at::Tensor half = at::zeros({1, 1, 8, 8});
  half.slice(3, 0, 4).fill_(1);
  auto glide = o;
  glide.mask_operator = ed::MaskOperator::glide;
  EXPECT_EQ(ed::diffedit_options({{"mode", "paper"}, {"strength", 0.5}, {"steps", 10}, {"guidance", 1.0}, {"mask_operator", "glide"}})
                .mask_operator,
            ed::MaskOperator::glide);
  const at::Tensor latent_out = ed::masked_decode(zero, sd_schedule(), inv, half, texts(), o.decode_stage());
  const at::Tensor glide_out = ed::masked_decode(zero, sd_schedule(), inv, half, texts(), glide.decode_stage());
  diffedit::diffusion::DDIMScheduler ddim(sd_schedule());
  const double a_final = ddim.final_alpha_cumprod();
  EXPECT_TRUE(at::allclose(glide_out * (1 - half), x0 * std::sqrt(a_final) * (1 - half), 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(latent_out * (1 - half), x0 * (1 - half)));
  EXPECT_TRUE(at::allclose(glide_out * half, latent_out * half, 1e-5, 1e-6)) << "inside the mask both decode alike";
  const at::Tensor full = at::ones({1, 1, 8, 8});
  EXPECT_TRUE(at::equal(ed::masked_decode(zero, sd_schedule(), inv, full, texts(), glide.decode_stage()),
                        ed::masked_decode(zero, sd_schedule(), inv, full, texts(), o.decode_stage())));
}

TEST(DiffEdit, InversionThenDecodingReconstructsUnderTheSameText) {
  // A smooth analytic model: eps = 0.1 x (no text dependence). Encoding and decoding with the same
  // predictions and no mask give the input back up to DDIM inversion's first-order error, which
  // shrinks with the step size.
  pl::Denoiser denoiser([](const at::Tensor& x, std::int64_t, const at::Tensor&) { return x * 0.1; });
  at::manual_seed(2);
  const at::Tensor x0 = at::randn({1, 4, 8, 8});
  auto error = [&](std::int64_t steps, double strength) {
    auto o = ed::DiffEditOptions::preset(ed::DiffEditMode::paper);
    o.steps = steps;
    o.strength = strength;
    o.guidance = 1.0;
    const auto inv = ed::ddim_invert(denoiser, sd_schedule(), x0, texts(), o.inversion_stage(), o.strength);
    return (ed::masked_decode(denoiser, sd_schedule(), inv, at::Tensor(), texts(), o.decode_stage()) - x0).abs().max().item<float>();
  };
  const float e25 = error(25, 0.8), e50 = error(50, 0.8), e100 = error(100, 0.8);
  EXPECT_LT(e50, e25 * 0.7f);
  EXPECT_LT(e100, e50 * 0.7f);
  EXPECT_LT(e100, 0.02f);

  // A shorter decode reuses one inversion (r <= r_max); a longer one is refused.
  auto o = ed::DiffEditOptions::preset(ed::DiffEditMode::paper);
  o.steps = 100;
  o.strength = 0.8;
  o.guidance = 1.0;
  const auto inv = ed::ddim_invert(denoiser, sd_schedule(), x0, texts(), o.inversion_stage(), o.strength);
  auto shorter = o;
  shorter.strength = 0.4;
  EXPECT_LT((ed::masked_decode(denoiser, sd_schedule(), inv, at::Tensor(), texts(), shorter.decode_stage()) - x0).abs().max().item<float>(),
            e100);
  auto longer = o;
  longer.strength = 0.9;
  EXPECT_THROW(ed::masked_decode(denoiser, sd_schedule(), inv, at::Tensor(), texts(), longer.decode_stage()), diffedit::InputError);
}
