// DiffEdit in diffusers_compat mode against diffusers' StableDiffusionDiffEditPipeline
// (fixture diffusers-v0.31/diffedit_tiny): mask map, mask, inverted latents, every decoding step
// and the edited image, with the recorded noise replayed in order. Then each switch between the
// compat and paper presets is flipped alone to show which outputs it changes. Runs on
// $DIFFEDIT_TEST_DEVICE (parity_support.h).
#include <algorithm>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/safetensors.h"
#include "editing/diffedit.h"
#include "models/state_dict.h"
#include "parity_support.h"
#include "test_support.h"

namespace ed = diffedit::editing;
namespace pl = diffedit::pipelines;
namespace st = diffedit::safetensors;
using diffedit::config::Json;
using diffedit::testing::fixture;
using diffedit::testing::on_test_device;
using diffedit::testing::within;

namespace {

constexpr double kSpreadMultiple = 10.0;  // times the fixture's float64-vs-float32 spread

struct Fixture {
  Json args;
  st::File inputs, noise, outputs;
  pl::StableDiffusion sd;
  ed::DiffEditOptions options;
  ed::DiffEditTexts mask_texts, invert_texts, call_texts;

  Fixture()
      : args(diffedit::config::load_json(fixture("diffusers-v0.31/diffedit_tiny/args.json"))),
        inputs(st::File::open(fixture("diffusers-v0.31/diffedit_tiny/inputs.safetensors"))),
        noise(st::File::open(fixture("diffusers-v0.31/diffedit_tiny/noise.safetensors"))),
        outputs(st::File::open(fixture("diffusers-v0.31/diffedit_tiny/outputs.safetensors"))) {
    const auto root = fixture("diffusers-v0.31");
    sd.unet = diffedit::models::UNet2DConditionModel(diffedit::models::UNetConfig::load(root / "unet_sd1_tiny/config.json"));
    diffedit::models::load_state_dict(*sd.unet, st::File::open(root / "unet_sd1_tiny/weights.safetensors"));
    sd.vae = diffedit::models::AutoencoderKL(diffedit::models::VAEConfig::load(root / "vae_tiny/config.json"));
    diffedit::models::load_state_dict(*sd.vae, st::File::open(root / "vae_tiny/weights.safetensors"));
    sd.unet->eval();
    sd.vae->eval();
    sd.options.device = diffedit::testing::test_device();
    sd.unet->to(sd.options.device);
    sd.vae->to(sd.options.device);
    sd.scheduler = diffedit::diffusion::SchedulerConfig::from_json(args["components"]["scheduler"]["config"], "args.json");
    sd.denoiser = pl::Denoiser(sd.unet, c10::kFloat);

    const auto& a = args["arguments"];
    options = ed::DiffEditOptions::preset(ed::DiffEditMode::diffusers_compat);
    options.steps = a["num_inference_steps"];
    options.mask_strength = a["mask_encode_strength"];
    options.mask_samples = a["num_maps_per_mask"];
    options.clamp_ratio = a["mask_thresholding_ratio"];
    options.strength = a["inpaint_strength"];
    options.guidance = a["guidance_scale"];
    options.mask_guidance = a["guidance_scale"];

    mask_texts = {.query = input("target_prompt_embeds"),
                  .reference = input("source_prompt_embeds"),
                  .empty = input("source_negative_prompt_embeds"),
                  .mask_query_negative = input("target_negative_prompt_embeds"),
                  .mask_reference_negative = input("source_negative_prompt_embeds")};
    invert_texts = {.query = input("call_prompt_embeds"),
                    .reference = input("invert_prompt_embeds"),
                    .empty = input("invert_negative_prompt_embeds"),
                    .encode_negative = input("invert_negative_prompt_embeds")};
    call_texts = {.query = input("call_prompt_embeds"),
                  .reference = input("invert_prompt_embeds"),
                  .empty = input("invert_negative_prompt_embeds"),
                  .decode_negative = input("call_negative_prompt_embeds")};
  }

  double spread(const char* key) const { return args["float64_run_with_same_noise"][key].get<double>(); }
  // An input tensor on the test device.
  at::Tensor input(const std::string& key) const { return on_test_device(inputs.tensor(key)); }
};

}  // namespace

TEST(diffedit_parity, DiffusersCompatMaskInversionDecode) {
  Fixture f;
  torch::NoGradGuard no_grad;
  ed::RecordedNoise noise({f.noise.tensor("noise.0"), f.noise.tensor("noise.1"), f.noise.tensor("noise.2")});
  const auto posterior = f.sd.encode(f.input("image"));
  const std::int64_t n = f.options.mask_samples;
  const at::Tensor mask_latents = f.sd.to_latents(posterior, noise.randn(f.noise.tensor("noise.0").sizes()));
  EXPECT_EQ(mask_latents.size(0), n);

  // Step 1: mask
  const auto before_mask = f.sd.denoiser.evaluations();
  const auto m = ed::estimate_mask(f.sd.denoiser, f.sd.scheduler, mask_latents, f.mask_texts, f.options.mask_stage(), noise);
  EXPECT_EQ(f.sd.denoiser.evaluations() - before_mask, 4 * n) << "one batched call over [R+, R-, Q+, Q-] x n";
  EXPECT_TRUE(within("mask_guidance_map", m.difference, f.outputs.tensor("mask_guidance_map"), 1e-5));
  EXPECT_NEAR(m.clamp, f.outputs.tensor("clamp_magnitude").item<double>(), 1e-5);
  EXPECT_TRUE(within("mask_pre_threshold", m.map, f.outputs.tensor("mask_pre_threshold"),
                     kSpreadMultiple * f.spread("mask_pre_threshold_max_abs_diff")));
  const at::Tensor mask = m.binarize(0.5);
  EXPECT_TRUE(at::equal(mask[0].cpu(), f.outputs.tensor("mask"))) << "mask differs from the reference";

  // Step 2: inversion (its own posterior sample)
  const at::Tensor x0 = f.sd.to_latents(posterior, noise.randn({1, 4, 16, 16}));
  const auto before_inv = f.sd.denoiser.evaluations();
  const auto inv = ed::ddim_invert(f.sd.denoiser, f.sd.scheduler, x0, f.invert_texts, f.options.inversion_stage(), f.options.strength);
  EXPECT_EQ(noise.used(), 3u);
  EXPECT_EQ(f.sd.denoiser.evaluations() - before_inv, 2 * static_cast<std::int64_t>(inv.latents.size()));
  const double inv_tol = kSpreadMultiple * f.spread("inverted_latents_max_abs_diff");
  std::vector<at::Tensor> reversed(inv.latents.rbegin(), inv.latents.rend());
  EXPECT_TRUE(within("inverted_latents", at::stack(reversed, 1), f.outputs.tensor("inverted_latents"), inv_tol));
  for (std::size_t i = 0; i < inv.latents.size(); ++i) {
    const std::string key = "invert.step" + std::to_string(i) + ".t" + std::to_string(inv.timesteps[i]) + ".latents";
    EXPECT_TRUE(within(key, inv.latents[i], f.outputs.tensor(key), inv_tol));
  }

  // Step 3: masked decoding
  std::vector<at::Tensor> steps;
  const auto before_dec = f.sd.denoiser.evaluations();
  const at::Tensor latents = ed::masked_decode(f.sd.denoiser, f.sd.scheduler, inv, mask, f.call_texts, f.options.decode_stage(), &steps);
  EXPECT_EQ(f.sd.denoiser.evaluations() - before_dec, 2 * static_cast<std::int64_t>(steps.size()));
  // The reference's decoding steps, in order, with their timesteps from the names it stored.
  std::vector<std::string> call_keys;
  for (std::size_t i = 0;; ++i) {
    const std::string prefix = "call.step" + std::to_string(i) + ".t";
    const auto it = std::find_if(f.outputs.tensors().begin(), f.outputs.tensors().end(),
                                 [&](const auto& t) { return t.name.rfind(prefix, 0) == 0 && t.name.ends_with(".latents"); });
    if (it == f.outputs.tensors().end()) break;
    call_keys.push_back(it->name);
  }
  ASSERT_EQ(steps.size(), call_keys.size());
  // Tolerance of decoding step i. inv_tol bounds the inverted latents decoding starts from: it is
  // the spread that the inversion's N guided steps (guidance g, so each step's float32 rounding
  // reaches the latents through (1 + 2g) UNet outputs) amplify to, times the margin. Decoding runs
  // the same guided step at the same guidance, so each of its steps may add as much again as an
  // average inversion step: after i + 1 steps the budget is inv_tol * (1 + (i + 1) / N), at most
  // twice inv_tol. (A flat inv_tol missed by 10% on another draw of the fixture at g = 7.5.)
  const double n_guided = static_cast<double>(inv.latents.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double tol = inv_tol * (1 + static_cast<double>(i + 1) / n_guided);
    EXPECT_TRUE(within(call_keys[i], steps[i], f.outputs.tensor(call_keys[i]), tol));
  }
  EXPECT_TRUE(within("output_image", f.sd.decode(latents), f.outputs.tensor("output_image"),
                     kSpreadMultiple * f.spread("output_image_max_abs_diff") + 2 * inv_tol));  // the last step's budget
}

TEST(diffedit_parity, CompatMaskWithDistinctNegativesAndTheGuidanceOrderSwitch) {
  // mask_case_b: different negatives for source and target expose diffusers' swapped guidance order.
  Fixture f;
  torch::NoGradGuard no_grad;
  auto texts = f.mask_texts;
  texts.mask_reference_negative = f.input("mask_case_b.source_negative_prompt_embeds");
  texts.mask_query_negative = f.input("mask_case_b.target_negative_prompt_embeds");
  const auto posterior = f.sd.encode(f.input("image"));
  auto run = [&](ed::GuidanceOrder order) {
    ed::RecordedNoise noise({f.noise.tensor("mask_case_b.noise.0"), f.noise.tensor("mask_case_b.noise.1")});
    const at::Tensor x = f.sd.to_latents(posterior, noise.randn(f.noise.tensor("mask_case_b.noise.0").sizes()));
    auto o = f.options;
    o.mask_guidance_order = order;
    return ed::estimate_mask(f.sd.denoiser, f.sd.scheduler, x, texts, o.mask_stage(), noise);
  };
  const auto swapped = run(ed::GuidanceOrder::swapped);
  EXPECT_TRUE(within("case b pre-threshold", swapped.map, f.outputs.tensor("mask_case_b.mask_pre_threshold"),
                     kSpreadMultiple * f.spread("mask_pre_threshold_max_abs_diff")));
  EXPECT_TRUE(at::equal(swapped.binarize(0.5)[0].cpu(), f.outputs.tensor("mask_case_b.mask")));
  // Textbook order gives the mask the fixture records for textbook CFG, which differs.
  const auto standard = run(ed::GuidanceOrder::standard);
  std::vector<float> flat;
  for (const auto& row : f.args["mask_case_b_textbook_cfg_mask"])
    for (float v : row.get<std::vector<float>>()) flat.push_back(v);
  EXPECT_TRUE(at::equal(standard.binarize(0.5)[0][0].cpu(), at::tensor(flat).view({16, 16})));
  EXPECT_FALSE(at::equal(standard.binarize(0.5), swapped.binarize(0.5)));
}

TEST(diffedit_parity, EachPaperSwitchChangesOnlyItsStep) {
  // Starting from the verified diffusers_compat run, flip one switch towards the paper at a time
  // and record which outputs move: the mask map, the inversion, the edited latents.
  Fixture f;
  torch::NoGradGuard no_grad;
  const auto posterior = f.sd.encode(f.input("image"));
  struct Outputs {
    at::Tensor map, inverted, edited;
  };
  auto run = [&](const ed::DiffEditOptions& o) {
    ed::RecordedNoise noise({f.noise.tensor("noise.0"), f.noise.tensor("noise.1"), f.noise.tensor("noise.2")});
    const at::Tensor draw0 = noise.randn(f.noise.tensor("noise.0").sizes());
    const at::Tensor mask_latents = o.sample_posterior ? f.sd.to_latents(posterior, draw0) : f.sd.to_latents(posterior);
    const auto m = ed::estimate_mask(f.sd.denoiser, f.sd.scheduler, mask_latents, f.mask_texts, o.mask_stage(), noise);
    const at::Tensor draw2 = noise.randn({1, 4, 16, 16});
    const at::Tensor x0 = o.sample_posterior ? f.sd.to_latents(posterior, draw2) : f.sd.to_latents(posterior);
    auto invert_texts = f.invert_texts;
    invert_texts.empty = f.input("invert_negative_prompt_embeds");
    const auto inv = ed::ddim_invert(f.sd.denoiser, f.sd.scheduler, x0, invert_texts, o.inversion_stage(), o.strength);
    // Decode with the reference mask so the decoding switches are seen on their own.
    const at::Tensor mask = on_test_device(f.outputs.tensor("mask").unsqueeze(1).to(at::kFloat));
    return Outputs{m.map, at::stack(inv.latents),
                   ed::masked_decode(f.sd.denoiser, f.sd.scheduler, inv, mask, f.call_texts, o.decode_stage())};
  };
  const Outputs compat = run(f.options);
  auto changed = [](const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>() > 1e-6; };
  auto check = [&](const char* name, const std::function<void(ed::DiffEditOptions&)>& flip, bool map, bool inverted, bool edited) {
    SCOPED_TRACE(name);
    auto o = f.options;
    flip(o);
    const Outputs r = run(o);
    EXPECT_EQ(changed(r.map, compat.map), map);
    EXPECT_EQ(changed(r.inverted, compat.inverted), inverted);
    EXPECT_EQ(changed(r.edited, compat.edited), edited);
  };
  check(
      "no guidance in the mask contrast", [](auto& o) { o.mask_guidance = 1.0; }, true, false, false);
  check(
      "unconditional encoding", [](auto& o) { o.encode_with_reference = false; }, false, true, true);
  check(
      "posterior mode", [](auto& o) { o.sample_posterior = false; }, true, true, true);
  check(
      "paste at the step's output level", [](auto& o) { o.paste = ed::PasteLevel::step_output; }, false, false, true);
  check(
      "quantile normalisation", [](auto& o) { o.normalization = ed::MaskNormalization::quantile_minmax; }, true, false, false);
}
