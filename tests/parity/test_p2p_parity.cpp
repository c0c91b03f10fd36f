// Prompt-to-Prompt (cross-attention control) against google/prompt-to-prompt's controllers on
// diffusers 0.31 (fixture p2p-v1, see its README): the layer table, the token bookkeeping
// (word positions, replacement and refinement mappers, step windows, equalizer, LocalBlend words)
// and, for every case, the UNet output of the first step, the guided noise and latents of every
// step, the attention maps before and after the controller, and LocalBlend's maps and masks.
// Every case-specific fact (cases, prompts, controller, parameters, debug maps) is read from the
// fixture files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "core/config.h"
#include "core/safetensors.h"
#include "diffusion/schedulers.h"
#include "editing/p2p.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "parity_support.h"
#include "pipelines/denoiser.h"
#include "test_support.h"
#include "text/clip_tokenizer.h"

namespace p2p = diffedit::editing::p2p;
namespace st = diffedit::safetensors;
using diffedit::config::Json;
using diffedit::testing::fixture;
using diffedit::testing::max_abs_diff;
using diffedit::testing::within;

namespace {

// Tolerances, from the fixture README's guidance (its float64-vs-float32 spread is 4.2e-5 on
// latents that reach |x| ~ 30).
constexpr double kUNetTol = 2e-6;       // raw UNet output of step 0 (the UNet fixture's own spread is 1e-6)
constexpr double kNoiseTol = 1e-4;      // guided noise, every step
constexpr double kLatentTol = 2e-4;     // latents, every step
constexpr double kAttentionTol = 1e-6;  // attention maps before / after the controller
constexpr double kBlendSoftTol = 1e-5;  // LocalBlend's normalised map (its margin to the threshold is >= 9e-4)

const std::string kSet = "p2p-v1/";

struct Shared {
  Json common;
  diffedit::models::UNet2DConditionModel unet{nullptr};
  diffedit::text::CLIPTokenizer tokenizer;
  diffedit::diffusion::SchedulerConfig scheduler;

  Shared() : common(diffedit::config::load_json(fixture(kSet + "common.json"))) {
    // The UNet the README names (relative to the set's directory).
    const std::string unet_dir = "diffusers-v0.31/unet_sd1_tiny";
    EXPECT_NE(common["unet"].get<std::string>().find(unet_dir), std::string::npos) << common["unet"];
    unet = diffedit::models::UNet2DConditionModel(diffedit::models::UNetConfig::load(fixture(unet_dir + "/config.json")));
    diffedit::models::load_state_dict(*unet, st::File::open(fixture(unet_dir + "/weights.safetensors")));
    unet->eval();
    tokenizer = diffedit::text::CLIPTokenizer::load(fixture("clip-v1/tokenizer"));
    Json s = common["scheduler"];
    EXPECT_EQ(s["eta"].get<double>(), 0.0);
    s.erase("eta");
    s.erase("_class");
    scheduler = diffedit::diffusion::SchedulerConfig::from_json(s, "common.json: scheduler");
  }
};

Shared& shared() {
  static Shared s;
  return s;
}

std::vector<std::string> cases() {
  std::vector<std::string> out;
  const Json manifest = diffedit::config::load_json(fixture(kSet + "manifest.json"));
  for (const auto& [file, info] : manifest["files"].items()) {
    const auto slash = file.find('/');
    if (slash != std::string::npos && file.substr(slash) == "/args.json") out.push_back(file.substr(0, slash));
  }
  return out;
}

// The method's parameters for a case, from its args.json (controller class -> edit kind).
Json parameters_for(const Json& args) {
  const std::string controller = args["controller"];
  Json p = {{"steps", args["num_inference_steps"]}, {"guidance", args["guidance_scale"]}, {"strength", 1.0}};
  if (controller == "EmptyControl")
    p["edit"] = "none";
  else if (controller == "AttentionReplace")
    p["edit"] = "replace";
  else if (controller == "AttentionRefine")
    p["edit"] = "refine";
  else if (controller == "AttentionReweight")
    p["edit"] = "reweight";
  else if (controller == "AttentionReweight(prev_controller=AttentionRefine)")
    p["edit"] = "refine";  // chained via the equalizer
  else
    ADD_FAILURE() << "unknown controller " << controller;
  if (!args["cross_replace_steps"].is_null()) p["cross_replace_steps"] = args["cross_replace_steps"];
  if (!args["self_replace_steps"].is_null()) p["self_replace_steps"] = args["self_replace_steps"];
  if (!args["equalizer_words"].is_null()) {
    p["equalizer_words"] = args["equalizer_words"];
    p["equalizer_values"] = args["equalizer_values"];
  }
  if (!args["localblend_words"].is_null()) {
    // LocalBlend(prompts, words): words[i] (a word or a list of words) belongs to prompt i.
    Json lists = Json::array();
    for (const auto& w : args["localblend_words"]) lists.push_back(w.is_string() ? Json::array({w}) : w);
    p["local_blend_words"] = lists;
    p["local_blend_threshold"] = args["localblend_threshold"];
  }
  return p;
}

struct CaseRun {
  Json args;
  st::File inputs, outputs, debug;
  p2p::Options options;
  std::optional<p2p::ControllerSpec> spec;
  diffedit::editing::BranchTrace trace;
  std::map<std::string, at::Tensor> maps;
  std::int64_t hook_calls_per_step = -1;

  explicit CaseRun(const std::string& name)
      : args(diffedit::config::load_json(fixture(kSet + name + "/args.json"))),
        inputs(st::File::open(fixture(kSet + name + "/inputs.safetensors"))),
        outputs(st::File::open(fixture(kSet + name + "/outputs.safetensors"))),
        debug(st::File::open(fixture(kSet + name + "/attn_debug.safetensors"))) {
    auto& s = shared();
    options = p2p::options_from(parameters_for(args));
    const std::string source = args["prompts"][0], target = args["prompts"][1];
    const std::int64_t steps = args["num_inference_steps"];
    const at::Tensor x = inputs.tensor("latent_init");
    spec = p2p::controller_spec(s.tokenizer, source, target, options, steps, x.size(2), x.size(3));
    std::optional<p2p::Controller> controller;
    if (spec) {
      controller.emplace(*spec);
      for (const auto& name : args["debug_maps"]) {
        long long step = -1, layer = -1;
        if (std::sscanf(name.get<std::string>().c_str(), "attn.step%lld.layer%lld", &step, &layer) == 2) controller->capture(step, layer);
      }
    }
    diffedit::diffusion::DDIMScheduler ddim(s.scheduler);
    ddim.set_timesteps(steps);
    EXPECT_EQ(ddim.timesteps(), args["timesteps"].get<std::vector<std::int64_t>>());
    diffedit::pipelines::Denoiser denoiser(s.unet, c10::kFloat);
    torch::NoGradGuard no_grad;
    diffedit::editing::denoise_branches(denoiser, s.scheduler, x, inputs.tensor("cond_embeddings"), inputs.tensor("uncond_embedding"),
                                        ddim.timesteps(), steps, args["guidance_scale"], controller ? &*controller : nullptr, &trace);
    if (controller) {
      maps = controller->captured();
      hook_calls_per_step = controller->calls_in_step();
    }
  }
};

}  // namespace

TEST(p2p_parity, LayerTableAndResolutionThresholds) {
  auto& s = shared();
  const auto sites = s.unet->attention_sites();
  const Json& layers = s.common["layers"];
  ASSERT_EQ(static_cast<std::int64_t>(sites.size()), s.common["num_att_layers"].get<std::int64_t>());
  ASSERT_EQ(sites.size(), layers.size());
  const std::map<std::string, diffedit::models::UNetPlace> places = {
      {"down", diffedit::models::UNetPlace::down}, {"mid", diffedit::models::UNetPlace::mid}, {"up", diffedit::models::UNetPlace::up}};
  const std::int64_t side = s.common["latent_side"];
  const auto g = p2p::Geometry::for_latent(side, side);
  const Json& th = s.common["thresholds"];
  EXPECT_EQ(g.self_replace_max_queries, th["self_replace_max_queries"].get<std::int64_t>());
  EXPECT_EQ(g.blend_h, th["localblend_map_res"].get<std::int64_t>());
  EXPECT_EQ(g.blend_w, th["localblend_map_res"].get<std::int64_t>());
  for (std::size_t i = 0; i < sites.size(); ++i) {
    SCOPED_TRACE(layers[i]["module"].get<std::string>());
    EXPECT_EQ(sites[i].index, layers[i]["layer"].get<std::int64_t>());
    EXPECT_EQ(sites[i].is_cross, layers[i]["is_cross"].get<bool>());
    EXPECT_EQ(sites[i].place, places.at(layers[i]["place_in_unet"]));
    const std::int64_t q = layers[i]["num_queries"];
    EXPECT_EQ(!sites[i].is_cross && q <= g.self_replace_max_queries, layers[i]["self_replace_applies"].get<bool>());
  }
}

TEST(p2p_parity, TokenBookkeepingMatchesTheReference) {
  auto& s = shared();
  const auto all = cases();
  ASSERT_FALSE(all.empty());
  for (const auto& name : all) {
    SCOPED_TRACE(name);
    const Json args = diffedit::config::load_json(fixture(kSet + name + "/args.json"));
    const auto inputs = st::File::open(fixture(kSet + name + "/inputs.safetensors"));
    for (std::size_t k = 0; k < 2; ++k) {
      const std::string prompt = args["prompts"][k];
      const auto tokens = p2p::tokenize_prompt(s.tokenizer, prompt);
      const Json& ref = args["prompt_tokens"][prompt];
      EXPECT_EQ(tokens.ids, ref["ids"].get<std::vector<std::int64_t>>()) << prompt;
      EXPECT_TRUE(at::equal(inputs.tensor("token_ids")[static_cast<std::int64_t>(k)].to(at::kLong),
                            at::tensor(args["token_ids_padded"][k].get<std::vector<std::int64_t>>())));
      // word_inds[word] = get_word_inds(prompt, index) of the word's last occurrence (a dict by word).
      const auto words = p2p::split_words(prompt);
      for (std::size_t i = 0; i < words.size(); ++i) {
        if (std::find(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end(), words[i]) != words.end()) continue;
        EXPECT_EQ(p2p::word_inds(tokens, static_cast<std::int64_t>(i)), ref["word_inds"][words[i]].get<std::vector<std::int64_t>>())
            << prompt << ": " << words[i];
      }
    }
    const auto options = p2p::options_from(parameters_for(args));
    if (!args["num_self_replace"].is_null()) {
      EXPECT_EQ(p2p::self_replace_window(args["num_inference_steps"], options.self_replace_steps),
                (std::pair<std::int64_t, std::int64_t>{args["num_self_replace"][0], args["num_self_replace"][1]}));
    }
    const at::Tensor x = inputs.tensor("latent_init");
    const auto spec = p2p::controller_spec(s.tokenizer, args["prompts"][0], args["prompts"][1], options, args["num_inference_steps"],
                                           x.size(2), x.size(3));
    if (!spec) {
      EXPECT_EQ(args["controller"], "EmptyControl");
      continue;
    }
    const std::int64_t words = p2p::kMaxWords;
    if (inputs.contains("cross_replace_alpha")) {
      EXPECT_TRUE(at::equal(spec->cross_alpha, inputs.tensor("cross_replace_alpha").reshape({-1, words})));
    }
    if (inputs.contains("mapper")) {
      EXPECT_TRUE(at::equal(spec->mapper, inputs.tensor("mapper")[0])) << "replacement mapper";
    }
    if (inputs.contains("refine_mapper")) {
      const auto r = p2p::refinement_mapper(p2p::tokenize_prompt(s.tokenizer, args["prompts"][0]),
                                            p2p::tokenize_prompt(s.tokenizer, args["prompts"][1]));
      EXPECT_TRUE(at::equal(r.index, inputs.tensor("refine_mapper")[0].to(at::kLong))) << "refinement mapper";
      EXPECT_TRUE(at::equal(spec->refine_alphas, inputs.tensor("refine_alphas")[0]));
    }
    if (inputs.contains("equalizer")) {
      ASSERT_TRUE(spec->equalizer.defined());
      EXPECT_TRUE(at::equal(spec->equalizer, inputs.tensor("equalizer")[0]));
    }
    EXPECT_EQ(spec->blend_alpha.defined(), inputs.contains("localblend_alpha_layers"));
    if (inputs.contains("localblend_alpha_layers")) {
      EXPECT_TRUE(at::equal(spec->blend_alpha, inputs.tensor("localblend_alpha_layers")));
    }
  }
}

TEST(p2p_parity, EveryCaseStepByStep) {
  auto& s = shared();
  std::map<std::string, at::Tensor> source_rows;  // row 0 of the final latents by source prompt, from `baseline`-like runs
  std::vector<std::pair<std::string, at::Tensor>> rows0;
  double worst_latents = 0, worst_noise = 0, worst_unet = 0, worst_maps = 0;
  for (const auto& name : cases()) {
    SCOPED_TRACE(name);
    CaseRun r(name);
    const auto& t = r.trace;
    const std::int64_t steps = r.args["num_inference_steps"];
    ASSERT_EQ(static_cast<std::int64_t>(t.noise_pred.size()), steps);
    if (r.spec) {
      EXPECT_EQ(r.hook_calls_per_step, s.common["num_att_layers"].get<std::int64_t>()) << "controller calls per UNet call";
    }

    EXPECT_TRUE(within(name + " unet_out_step0", t.unet_out_first, r.outputs.tensor("unet_out_step0"), kUNetTol));
    const at::Tensor noise = at::stack(t.noise_pred), latents = at::stack(t.latents);
    EXPECT_TRUE(within(name + " noise_pred", noise, r.outputs.tensor("noise_pred"), kNoiseTol));
    EXPECT_TRUE(within(name + " latents", latents, r.outputs.tensor("latents"), kLatentTol));
    EXPECT_TRUE(within(name + " final_latents", t.latents.back(), r.outputs.tensor("final_latents"), kLatentTol));
    worst_unet = std::max(worst_unet, max_abs_diff(t.unet_out_first, r.outputs.tensor("unet_out_step0")));
    worst_noise = std::max(worst_noise, max_abs_diff(noise, r.outputs.tensor("noise_pred")));
    worst_latents = std::max(worst_latents, max_abs_diff(latents, r.outputs.tensor("latents")));

    // Attention maps before and after the controller at the fixture's (step, layer) points.
    for (const auto& key : r.args["debug_maps"]) {
      const std::string k = key;
      if (!r.spec) continue;  // EmptyControl: no controller, nothing captured (its maps are the plain UNet's)
      ASSERT_TRUE(r.maps.count(k)) << k << " not captured";
      EXPECT_TRUE(within(name + " " + k, r.maps.at(k), r.debug.tensor(k), kAttentionTol));
      worst_maps = std::max(worst_maps, max_abs_diff(r.maps.at(k), r.debug.tensor(k)));
      if (k.size() > 11 && k.substr(k.size() - 11) == ".after_cond") {
        // Only the target rows change: the source rows of the conditional half stay bit for bit.
        const at::Tensor before = r.maps.at(k.substr(0, k.size() - 11) + ".before");
        const std::int64_t half = before.size(0) / 2, heads = half / 2;
        EXPECT_TRUE(at::equal(r.maps.at(k).narrow(0, 0, heads), before.narrow(0, half, heads))) << k << ": source rows changed";
      }
    }

    // LocalBlend: the maps before thresholding, the 0/1 masks (exactly) and the latents before the blend.
    if (r.outputs.contains("localblend_mask")) {
      ASSERT_EQ(static_cast<std::int64_t>(t.blend_mask.size()), steps);
      EXPECT_TRUE(within(name + " localblend_soft", at::stack(t.blend_soft), r.outputs.tensor("localblend_soft"), kBlendSoftTol));
      EXPECT_TRUE(at::equal(at::stack(t.blend_mask), r.outputs.tensor("localblend_mask"))) << "LocalBlend masks differ";
      EXPECT_TRUE(within(name + " latents_pre_blend", at::stack(t.pre_blend), r.outputs.tensor("latents_pre_blend"), kLatentTol));
      const auto fractions = r.args["localblend_mask_fraction_per_step"].get<std::vector<double>>();
      for (std::int64_t k = 0; k < steps; ++k)
        EXPECT_DOUBLE_EQ(t.blend_mask[static_cast<std::size_t>(k)].mean().item<double>(), fractions[static_cast<std::size_t>(k)])
            << "step " << k;
    } else {
      EXPECT_TRUE(t.blend_mask.empty());
    }
    rows0.push_back({r.args["prompts"][0].get<std::string>(), t.latents.back()[0]});
    if (r.args["controller"] == "EmptyControl") source_rows[r.args["prompts"][0]] = t.latents.back()[0];
    if (r.args["prompts"][0] == r.args["prompts"][1] && r.args["equalizer_words"].is_null()) {
      // Identical prompts and no re-weighting (no edit): both rows agree up to the GEMM's row-position rounding (README trap 1).
      EXPECT_TRUE(within(name + " rows of identical prompts", t.latents.back()[1], t.latents.back()[0], kLatentTol));
    }
  }
  // P2P never changes the source generation: row 0 equals the uncontrolled run's bit for bit.
  std::size_t compared = 0;
  for (const auto& [prompt, row] : rows0)
    if (source_rows.count(prompt)) {
      ++compared;
      EXPECT_TRUE(at::equal(row, source_rows.at(prompt))) << "source row of '" << prompt << "' changed by the controller";
    }
  EXPECT_GT(compared, 1u);
  std::printf("p2p parity max errors: unet_out_step0 %.3g, noise_pred %.3g, latents %.3g, attention maps %.3g\n", worst_unet, worst_noise,
              worst_latents, worst_maps);
}
