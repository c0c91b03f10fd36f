// Every editing method through the library and through `diffedit edit` on a tiny pipeline
// assembled from the fixtures; denoiser evaluations counted exactly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "core/config.h"
#include "core/errors.h"
#include "edit_request.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "image/io.h"
#include "test_support.h"
#include "tiny_pipeline.h"

namespace ed = diffedit::editing;
namespace pl = diffedit::pipelines;
using diffedit::config::Json;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;

namespace {

ed::EditRequest request(const pl::StableDiffusion& sd) { return diffedit::testing::tiny_edit_request(sd); }

}  // namespace

TEST(EditMethods, EveryMethodRunsAndCountsDenoiserEvaluationsExactly) {
  ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  const auto req = request(sd);
  const std::int64_t steps = 10, n = 3;
  const double r = 0.5;
  const std::int64_t k = static_cast<std::int64_t>(steps * r);  // updates at ratio r
  const Json base = {{"steps", steps}, {"strength", r}, {"guidance", 7.5}};
  auto with = [&](Json extra) {
    Json p = base;
    p.update(extra);
    return p;
  };
  struct Case {
    std::string method;
    Json params;
    std::int64_t evaluations;
    bool has_mask;
  };
  const std::vector<Case> cases = {
      {"diffedit", with({{"mask_samples", n}}), 2 * n + k + 2 * k, true},  // contrast, unconditional encoding, guided decoding
      {"diffedit", with({{"mask_samples", n}, {"mode", "diffusers_compat"}}), 4 * n + 2 * k + 2 * k, true},
      {"diffedit_oracle_mask", base, k + 2 * k, true},
      {"encode_decode", base, k + 2 * k, false},
      {"mask_no_encoding", with({{"mask_samples", n}}), 2 * n + 2 * k, true},
      {"ilvr", with({{"factor", 4}}), 2 * k, false},  // 4 pixels: factor 2 on the tiny VAE's latent grid
      {"sdedit", base, 2 * k, false},
      {"sdedit", with({{"sampler", "ddpm"}}), 2 * k, false},
      // encoding under R (one evaluation per step), then [R, Q] guided (4 per step); LocalBlend's mask when asked
      {"p2p", base, k + 4 * k, false},
      {"p2p", with({{"local_blend_words", "changed"}}), k + 4 * k, true},
      {"p2p", with({{"edit", "refine"}, {"equalizer_words", {"blue"}}, {"equalizer_values", {2.0}}}), k + 4 * k, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.params.dump());
    auto method = ed::make_method(c.method, c.params, "test");
    ed::SeededNoise noise(1);
    const auto result = method->edit(sd, req, noise);
    EXPECT_EQ(result.denoiser_evaluations, c.evaluations);
    EXPECT_EQ(result.image.sizes(), req.image.sizes());
    EXPECT_TRUE(at::isfinite(result.image).all().item<bool>());
    EXPECT_EQ(result.mask.defined(), c.has_mask);
    // Deterministic for a fixed seed.
    ed::SeededNoise again(1);
    EXPECT_TRUE(at::equal(method->edit(sd, req, again).image, result.image));
  }
  // The oracle mask reaches the latent grid: top half.
  auto oracle = ed::make_method("diffedit_oracle_mask", base, "test");
  ed::SeededNoise noise(1);
  const at::Tensor m = oracle->edit(sd, req, noise).mask;
  EXPECT_EQ(m.sum().item<float>(), m.numel() / 2);
}

TEST(EditMethods, BadParametersAreNamed) {
  auto err = [](const std::string& name, const Json& p) {
    try {
      ed::make_method(name, p, "cfg.json");
    } catch (const diffedit::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err("difedit", Json::object()),
            "cfg.json: unknown method 'difedit' (did you mean 'diffedit'?); methods: diffedit, diffedit_oracle_mask, "
            "encode_decode, mask_no_encoding, ilvr, sdedit, flexit, p2p, masactrl, pnp, copy, retrieve");
  EXPECT_EQ(err("diffedit", {{"treshold", 0.3}}).rfind("cfg.json: unknown key 'treshold' (did you mean 'threshold'?)", 0), 0u);
  EXPECT_EQ(err("sdedit", {{"sampler", "euler"}}), "cfg.json: key 'sampler': \"euler\" is not one of ddim, ddpm");
  EXPECT_EQ(err("diffedit", {{"strength", 1.5}}), "cfg.json: key 'strength': 1.5 is outside the allowed range [0.000000, 1.000000]");
}

TEST(Cli, EditWritesImageMaskAndRecord) {
  ScratchDir scratch;
  const auto dir = diffedit::testing::make_tiny_pipeline(scratch / "tiny");
  auto sd = pl::StableDiffusion::load(dir);
  const auto req = request(sd);
  diffedit::image::write(scratch / "in.png", req.image[0]);
  const auto out = scratch / "out";
  const auto r = run_cli({"--quiet",        "edit",          "--model",     dir.string(),   "--image",  (scratch / "in.png").string(),
                          "--query",        "a blue square", "--reference", "a red circle", "--method", "diffedit",
                          "--strength",     "0.5",           "--steps",     "10",           "--seed",   "4",
                          "mask_samples=2", "--out",         out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"edited.png", "mask.png", "mask_map.png", "record.json"}) EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
  const auto record = diffedit::config::load_json(out / "record.json");
  EXPECT_EQ(record["method"], "diffedit");
  EXPECT_EQ(record["parameters"]["mask_samples"], 2);
  EXPECT_EQ(record["parameters"]["threshold"], 0.5) << "defaults are recorded";
  EXPECT_EQ(record["counters"]["denoiser_evaluations"], 2 * 2 + 5 + 2 * 5);
  EXPECT_EQ(record["seed"], 4);
  EXPECT_EQ(diffedit::image::read(out / "mask.png").size(2), req.image.size(3));

  // Every registered method runs through the CLI.
  diffedit::image::write(scratch / "mask.png", req.oracle_mask[0]);
  const std::string models = (diffedit::testing::source_dir() / "models").string();
  const std::map<std::string, std::vector<std::string>> extra = {
      {"flexit",
       {"iterations=2", "clip_models=[\"" + models + "/toy-clip\"]",
        "lpips={\"name\": \"toy-classifier\", \"weights\": \"" + models + "/toy-classifier\"}"}},
      {"retrieve", {"--target-class", "5", "source=toy-world"}}};
  for (const auto& [name, description] : ed::method_catalogue()) {
    SCOPED_TRACE(name);
    std::vector<std::string> args = {"--quiet",  "edit",
                                     "--model",  dir.string(),
                                     "--image",  (scratch / "in.png").string(),
                                     "--query",  "a blue square",
                                     "--method", name,
                                     "--mask",   (scratch / "mask.png").string(),
                                     "--out",    (scratch / ("out_" + name)).string()};
    if (ed::method_has_parameter(name, "steps")) args.insert(args.end(), {"--steps", "4"});
    if (extra.count(name)) args.insert(args.end(), extra.at(name).begin(), extra.at(name).end());
    const auto m = run_cli(args);
    ASSERT_EQ(m.exit_code, 0) << m.err;
    EXPECT_EQ(diffedit::config::load_json(scratch / ("out_" + name) / "record.json")["method"], name);
  }

  const auto help = run_cli({"edit", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* m :
       {"diffedit", "diffedit_oracle_mask", "encode_decode", "mask_no_encoding", "ilvr", "sdedit", "flexit", "p2p", "copy", "retrieve"})
    EXPECT_NE(help.out.find(m), std::string::npos) << m;
  const auto bad = run_cli({"edit", "--model", dir.string(), "--image", (scratch / "in.png").string(), "--query", "x", "--method", "sdedit",
                            "thresold=0.2", "--out", out.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("error: diffedit edit --method sdedit: unknown key 'thresold'", 0), 0u) << bad.err;
}

TEST(EditMethods, EachAblationRemovesExactlyItsComponent) {
  ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(scratch / "tiny"));
  auto req = request(sd);
  const Json p = {{"steps", 10}, {"strength", 0.5}, {"mask_samples", 3}};
  auto run = [&](const std::string& name, const ed::EditRequest& r) {
    ed::SeededNoise noise(7);
    return ed::make_method(name, p, "test")->edit(sd, r, noise);
  };
  const auto diffedit = run("diffedit", req);

  // Oracle decoding with DiffEdit's own mask (as a pixel mask) is DiffEdit: the mask is the only input it replaces.
  auto with_own_mask = req;
  with_own_mask.oracle_mask = at::upsample_nearest2d(diffedit.mask, {req.image.size(2), req.image.size(3)});
  EXPECT_TRUE(at::equal(run("diffedit_oracle_mask", with_own_mask).image, diffedit.image));

  // encode_decode is DiffEdit with the mask removed: the same as decoding under an all-ones mask.
  auto all_ones = req;
  all_ones.oracle_mask = at::ones_like(req.oracle_mask);
  EXPECT_TRUE(at::equal(run("encode_decode", req).image, run("diffedit_oracle_mask", all_ones).image));

  // mask_no_encoding keeps DiffEdit's mask but not its DDIM-encoded latents.
  const auto no_encoding = run("mask_no_encoding", req);
  EXPECT_TRUE(at::equal(no_encoding.mask, diffedit.mask));
  EXPECT_FALSE(at::equal(no_encoding.image, diffedit.image));

  // Without a reference text the contrast is against the empty text: a different mask map.
  auto no_reference = req;
  no_reference.reference = "";
  EXPECT_FALSE(at::equal(run("diffedit", no_reference).mask_map, diffedit.mask_map));
}
