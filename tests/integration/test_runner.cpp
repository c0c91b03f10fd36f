// `diffedit run` / `merge` end to end on the embedded toy models: resume after SIGKILL gives the
// records and numbers of an uninterrupted run; two shards merged equal one run; a changed config
// is refused; bad configs are named.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "core/config.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "image/io.h"

#include <cmath>
#include "test_support.h"

namespace {

using diffedit::config::Json;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;
namespace fs = std::filesystem;

std::string models(const std::string& name) { return (diffedit::testing::source_dir() / "models" / name).string(); }

// A small experiment: 3 items, DiffEdit over 2 r x 2 thresholds, encode_decode and SDEdit at 2 r.
Json small_config() {
  return {
      {"name", "small"},
      {"model", models("toy-sd")},
      {"dataset", {{"name", "toy-imagenet"}, {"split", "test"}, {"limit", 3}}},
      {"steps", 10},
      {"guidance", 5.0},
      {"seeds", {0}},
      {"methods",
       {{{"method", "diffedit"}, {"grid", {{"strength", {0.5, 1.0}}, {"threshold", {0.25, 0.5}}}}, {"parameters", {{"mask_samples", 4}}}},
        {{"method", "encode_decode"}, {"grid", {{"strength", {0.5, 1.0}}}}},
        {{"method", "sdedit"}, {"grid", {{"strength", {0.5, 1.0}}}}}}},
      {"metrics",
       {{"per_image", {"lpips", "mask_iou", "edit_success", "unedited_psnr"}},
        {"set", {"fid", "csfid"}},
        {"feature_net", {{"name", "toy-classifier"}, {"weights", models("toy-classifier")}}},
        {"lpips", {{"name", "toy-classifier"}, {"weights", models("toy-classifier")}}},
        {"classifier", models("toy-classifier")},
        {"reference", {{"name", "toy-imagenet"}, {"split", "val"}, {"limit", 64}}}}},
  };
}

fs::path write_config(const fs::path& dir, const Json& c) {
  fs::create_directories(dir);
  diffedit::fs::write_atomic(dir / "config.json", c.dump(2));
  return dir / "config.json";
}

Json summary(const fs::path& dir) { return diffedit::config::load_json(dir / "summary.json"); }

// Records by key without the fields that may differ between runs (wall time).
std::map<std::string, Json> records(const fs::path& dir) {
  std::map<std::string, Json> out;
  for (const auto& e : fs::directory_iterator(dir / "records")) {
    if (e.path().extension() != ".json") continue;
    Json r = diffedit::config::load_json(e.path());
    r.erase("seconds");
    out[r["key"]] = r;
  }
  return out;
}

std::vector<std::string> run_args(const fs::path& config, const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"-q", "run", config.string(), "--out", out.string(), "--no-cache"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST(Runner, ResumeAfterSigkillGivesTheUninterruptedResult) {
  ScratchDir dir;
  const auto config = write_config(dir / "cfg", small_config());
  const auto straight = run_cli(run_args(config, dir / "straight"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const Json expected = summary(dir / "straight");
  EXPECT_EQ(expected["records"]["present"], 24);
  EXPECT_TRUE(expected["complete"].get<bool>());

  // Kill at random points (start-up, mid-item, while writing), then finish.
  std::mt19937 rng(7);
  int killed = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int after = std::uniform_int_distribution<int>(300, 2500)(rng);
    const auto r = diffedit::testing::run_cli_killed_after(run_args(config, dir / "resumed"), after);
    killed += r.exit_code == 128 + 9;
  }
  EXPECT_GE(killed, 1) << "no run was interrupted: the test did not test resumption";
  // A kill during an atomic write leaves its temporary file; plant one in case no kill hit a write.
  const std::string leftover = "0123.json.tmp." + std::to_string(diffedit::testing::dead_pid()) + ".0";
  fs::create_directories(dir / "resumed" / "records");
  diffedit::testing::write_bytes(dir / "resumed" / "records" / leftover, "{\"key\": \"01");
  const auto last = run_cli(run_args(config, dir / "resumed"));
  ASSERT_EQ(last.exit_code, 0) << last.err;

  EXPECT_EQ(summary(dir / "resumed")["metrics"], expected["metrics"]);
  EXPECT_EQ(summary(dir / "resumed")["denoiser_evaluations"], expected["denoiser_evaluations"]);
  const auto a = records(dir / "straight"), b = records(dir / "resumed");
  ASSERT_EQ(a.size(), 24u);
  ASSERT_EQ(b.size(), 24u) << "missing or duplicate records";
  for (const auto& [key, r] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_EQ(b.at(key), r) << key;
    EXPECT_EQ(diffedit::testing::read_bytes(dir / "straight" / r["image"].get<std::string>()),
              diffedit::testing::read_bytes(dir / "resumed" / r["image"].get<std::string>()));
  }
  // Nothing left behind by the interrupted writes is mistaken for a record.
  for (const auto& e : fs::directory_iterator(dir / "resumed" / "records")) EXPECT_EQ(e.path().extension(), ".json") << e.path();

  // A re-run of a complete directory computes nothing.
  const auto again = run_cli(run_args(config, dir / "resumed"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(summary(dir / "resumed")["this_invocation"]["denoiser_evaluations"], 0);
}

TEST(Runner, TwoShardsMergedEqualOneRun) {
  ScratchDir dir;
  const auto config = write_config(dir / "cfg", small_config());
  ASSERT_EQ(run_cli(run_args(config, dir / "one")).exit_code, 0);
  ASSERT_EQ(run_cli(run_args(config, dir / "s0", {"--shard", "0/2"})).exit_code, 0);
  ASSERT_EQ(run_cli(run_args(config, dir / "s1", {"--shard", "1/2"})).exit_code, 0);
  EXPECT_FALSE(summary(dir / "s0")["complete"].get<bool>());
  const auto merged =
      run_cli({"-q", "merge", (dir / "s0").string(), (dir / "s1").string(), "--out", (dir / "merged").string(), "--no-cache"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const Json one = summary(dir / "one"), m = summary(dir / "merged");
  EXPECT_TRUE(m["complete"].get<bool>());
  EXPECT_EQ(m["metrics"], one["metrics"]);
  EXPECT_EQ(m["denoiser_evaluations"], one["denoiser_evaluations"]);
  EXPECT_EQ(m["denoiser_evaluations_if_independent"], one["denoiser_evaluations_if_independent"]);
  EXPECT_EQ(records(dir / "merged"), records(dir / "one"));

  // Shards of different configs are refused.
  Json other = small_config();
  other["steps"] = 8;
  const auto other_config = write_config(dir / "cfg2", other);
  ASSERT_EQ(run_cli(run_args(other_config, dir / "o0", {"--shard", "0/2"})).exit_code, 0);
  const auto bad = run_cli({"merge", (dir / "s0").string(), (dir / "o0").string(), "--out", (dir / "bad").string(), "--no-cache"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("different config"), std::string::npos) << bad.err;
}

TEST(Runner, SharingRatioAndRefusals) {
  ScratchDir dir;
  Json c = small_config();
  c["dataset"]["limit"] = 1;
  const auto config = write_config(dir / "cfg", c);
  ASSERT_EQ(run_cli(run_args(config, dir / "out")).exit_code, 0);
  const Json s = summary(dir / "out");
  // Per image: mask 2*4 once, inversion 10 once; decodes 2k per setting (k = 5, 10):
  // DiffEdit 2*(10+20), encode_decode 10+20, SDEdit 10+20.
  EXPECT_EQ(s["denoiser_evaluations"], 8 + 10 + 60 + 30 + 30);
  // Alone: DiffEdit 4 x (8 + k + 2k), encode_decode 2 x 3k summed, SDEdit 2k summed.
  EXPECT_EQ(s["denoiser_evaluations_if_independent"], 2 * (8 + 15) + 2 * (8 + 30) + 15 + 30 + 30);
  EXPECT_EQ(s["metrics"]["diffedit"]["strength=0.5,threshold=0.25"]["n"], 1);

  // The same directory with another config: refused, then accepted with --force-new.
  Json changed = c;
  changed["guidance"] = 3.0;
  const auto changed_config = write_config(dir / "cfg2", changed);
  const auto refused = run_cli(run_args(changed_config, dir / "out"));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("holds results of a different config"), std::string::npos) << refused.err;
  ASSERT_EQ(run_cli(run_args(changed_config, dir / "out", {"--force-new"})).exit_code, 0);
  EXPECT_EQ(summary(dir / "out")["config"]["guidance"], 3.0);

  // Bad configs are named.
  Json unknown = c;
  unknown["methods"][0]["grid"]["treshold"] = {0.5};
  const auto u = run_cli(run_args(write_config(dir / "cfg3", unknown), dir / "u"));
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_NE(u.err.find("treshold"), std::string::npos) << u.err;
  Json empty = c;
  empty["methods"][0]["grid"]["strength"] = Json::array();
  const auto e = run_cli(run_args(write_config(dir / "cfg4", empty), dir / "e"));
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find("strength"), std::string::npos) << e.err;
}

TEST(Runner, RegressFailsOnAPerturbedBaselineAndOnAMissingMetric) {
  ScratchDir dir;
  Json c = small_config();
  c["dataset"]["limit"] = 2;
  c["methods"] = Json::array({Json{{"method", "diffedit"}, {"grid", {{"strength", {0.5}}}}, {"parameters", {{"mask_samples", 2}}}}});
  ASSERT_EQ(run_cli(run_args(write_config(dir / "cfg", c), dir / "out")).exit_code, 0);
  const auto baseline = dir / "baseline.json";
  ASSERT_EQ(run_cli({"regress", (dir / "out").string(), "--baseline", baseline.string(), "--update"}).exit_code, 0);
  const auto same = run_cli({"regress", (dir / "out").string(), "--baseline", baseline.string()});
  EXPECT_EQ(same.exit_code, 0) << same.out;

  Json b = diffedit::config::load_json(baseline);
  const std::string name = "diffedit/strength=0.5/lpips";
  ASSERT_TRUE(b["metrics"].contains(name)) << b.dump(1);
  b["metrics"][name]["value"] = b["metrics"][name]["value"].get<double>() + 3 * b["metrics"][name]["abs_tol"].get<double>() + 1e-9;
  diffedit::fs::write_atomic(dir / "perturbed.json", b.dump());
  const auto perturbed = run_cli({"regress", (dir / "out").string(), "--baseline", (dir / "perturbed.json").string()});
  EXPECT_EQ(perturbed.exit_code, 1);
  EXPECT_NE(perturbed.out.find(name), std::string::npos) << perturbed.out;
  EXPECT_NE(perturbed.out.find("CHANGED"), std::string::npos) << perturbed.out;

  Json m = diffedit::config::load_json(baseline);
  m["metrics"]["diffedit/strength=0.5/not_a_metric"] = {{"value", 1.0}, {"abs_tol", 0.1}};
  diffedit::fs::write_atomic(dir / "missing.json", m.dump());
  const auto missing = run_cli({"regress", (dir / "out").string(), "--baseline", (dir / "missing.json").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("MISSING"), std::string::npos) << missing.out;

  const auto no_file = run_cli({"regress", (dir / "out").string(), "--baseline", (dir / "nowhere.json").string()});
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_NE(no_file.err.find("nowhere.json"), std::string::npos) << no_file.err;
  diffedit::fs::write_atomic(dir / "malformed.json", "{\"metrics\": {\"x\": {\"value\": \"a\"}}}");
  const auto malformed = run_cli({"regress", (dir / "out").string(), "--baseline", (dir / "malformed.json").string()});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("metrics.x: needs a numeric value"), std::string::npos) << malformed.err;

  // --update keeps a tolerance widened by hand, and raises one below the relative floor (1e-4 |v|),
  // as one left from a time when the value was near zero.
  Json tuned = diffedit::config::load_json(baseline);
  const std::string other = "diffedit/strength=0.5/unedited_psnr_db";
  ASSERT_TRUE(tuned["metrics"].contains(other)) << tuned.dump(1);
  const double value = tuned["metrics"][other]["value"].get<double>();
  ASSERT_GT(std::abs(value), 1e-3);
  tuned["metrics"][name]["abs_tol"] = 0.5;
  tuned["metrics"][other]["abs_tol"] = 1e-12;
  diffedit::fs::write_atomic(dir / "tuned.json", tuned.dump());
  ASSERT_EQ(run_cli({"regress", (dir / "out").string(), "--baseline", (dir / "tuned.json").string(), "--update"}).exit_code, 0);
  const Json updated = diffedit::config::load_json(dir / "tuned.json");
  EXPECT_EQ(updated["metrics"][name]["abs_tol"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(updated["metrics"][other]["abs_tol"].get<double>(), std::max(1e-6, 1e-4 * std::abs(value)));
}

TEST(Runner, ReportWritesTablesPlotsAndAPageThatRendersInChromium) {
  ScratchDir dir;
  Json c = small_config();
  c["dataset"]["limit"] = 2;
  ASSERT_EQ(run_cli(run_args(write_config(dir / "cfg", c), dir / "out")).exit_code, 0);
  const auto r = run_cli({"report", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = dir / "out" / "report";
  for (const char* f : {"tables.md", "tables.csv", "tables.tex", "index.html", "tradeoff_lpips_vs_csfid.png", "tradeoff_lpips_vs_csfid.pdf",
                        "tradeoff_unedited_psnr_db_vs_edit_success.png"})
    EXPECT_TRUE(fs::exists(report / f)) << f << "\n" << r.err;
  // One table row per setting, with the summary's numbers.
  const std::string csv = diffedit::testing::read_bytes(report / "tables.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 8);
  EXPECT_NE(csv.find("\"diffedit\",\"strength=0.5,threshold=0.25\""), std::string::npos) << csv;
  EXPECT_NE(diffedit::testing::read_bytes(report / "tables.tex").find("\\toprule"), std::string::npos);
  // The paper's findings this run allows: Figure 4 (DiffEdit vs SDEdit), Figure 6 left (Encode-Decode vs
  // SDEdit, DiffEdit vs Encode-Decode) and Figure 6 right (threshold 0.5 vs 0.25), on edit success vs
  // unedited PSNR, each with a verdict.
  const Json claims = diffedit::config::load_json(report / "claims.json");
  EXPECT_EQ(claims["axes"]["edit"], "edit_success");
  EXPECT_EQ(claims["axes"]["fidelity"], "unedited_psnr_db");
  ASSERT_EQ(claims["claims"].size(), 4u) << claims.dump(1);
  for (const auto& claim : claims["claims"]) EXPECT_TRUE(claim["holds"].is_boolean()) << claim.dump();
  EXPECT_EQ(claims["claims"][3]["statement"], "diffedit (threshold=0.5) dominates diffedit (threshold=0.25)");
  EXPECT_NE(diffedit::testing::read_bytes(report / "tables.md").find("## Claims"), std::string::npos);
  EXPECT_NE(diffedit::testing::read_bytes(report / "claims.md").find("Figure 6 right"), std::string::npos);
  // The summary names the toy world the items came from.
  EXPECT_EQ(diffedit::config::load_json(dir / "out" / "summary.json")["world"]["preset"], diffedit::data::toyworld::kDefaultPreset);

  // Headless Chromium loads the page from disk; the page's own check reports every <img> loaded.
  const std::string cmd = "chromium --headless --disable-gpu --no-sandbox --virtual-time-budget=5000 --dump-dom 'file://" +
                          fs::absolute(report / "index.html").string() + "' 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string dom;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) dom.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << "chromium failed (installed by scripts/setup.sh)";
  const auto at = dom.find("images loaded: ");
  ASSERT_NE(at, std::string::npos) << dom.substr(0, 2000);
  const std::string status = dom.substr(at, dom.find('<', at) - at);
  EXPECT_NE(status.find("; broken: 0"), std::string::npos) << status;
  // 2 items x (input, target, region + DiffEdit: 2 families x (mask + 2 r) + encode_decode 2 + SDEdit 2) + 2 plots
  // (the config has no CLIPScore, so the two CLIP trade-offs are not drawn).
  EXPECT_NE(status.find("images loaded: 28 of 28"), std::string::npos) << status;
}

TEST(Runner, EveryShippedExperimentConfigValidates) {
  // configs/quickstart.json, configs/{paper,piebench,toy}/*.json (files starting with '_' are
  // includes, not experiments): schemas, includes, method parameters and grids all check out.
  std::vector<fs::path> files = {diffedit::testing::source_dir() / "configs" / "quickstart.json"};
  for (const char* sub : {"paper", "piebench", "toy"})
    for (const auto& e : fs::directory_iterator(diffedit::testing::source_dir() / "configs" / sub))
      if (e.path().extension() == ".json" && e.path().filename().string()[0] != '_') files.push_back(e.path());
  EXPECT_GE(files.size(), 12u);
  // configs/README.md's cost table (scripts/config-costs.sh): "| name | settings | done | alone | ratio |".
  std::map<std::string, std::vector<std::string>> cost_rows;
  {
    std::istringstream readme(diffedit::fs::read_file(diffedit::testing::source_dir() / "configs" / "README.md"));
    for (std::string line; std::getline(readme, line);) {
      std::vector<std::string> cells;
      std::istringstream row(line);
      for (std::string cell; std::getline(row, cell, '|');) {
        const auto a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
        if (a != std::string::npos) cells.push_back(cell.substr(a, b - a + 1));
      }
      if (cells.size() == 5 && line.rfind("| ", 0) == 0) cost_rows[cells[0]] = cells;
    }
  }
  for (const auto& f : files) {
    const auto r = run_cli({"run", f.string(), "--out", "unused", "--print-config"});
    EXPECT_EQ(r.exit_code, 0) << f << "\n" << r.err;
    const Json c = Json::parse(r.out);
    EXPECT_FALSE(c["methods"].empty()) << f;
    if (f.parent_path().filename() == "paper" || f.parent_path().filename() == "piebench") {
      EXPECT_GE(c["assumptions"].size(), 3u) << f << ": real-data configs state what the paper leaves open";
    }
    // Planned, not only printed: the experiment is built (methods, grids, metrics and their inputs).
    const auto plan = run_cli({"run", f.string(), "--out", "unused", "--dry-run"});
    ASSERT_EQ(plan.exit_code, 0) << f << "\n" << plan.err;
    const Json p = Json::parse(plan.out);
    EXPECT_EQ(p["records"], p["dataset"]["limit"].get<std::int64_t>() * static_cast<std::int64_t>(p["seeds"].size()) *
                                static_cast<std::int64_t>(p["settings"].size()))
        << f;
    for (const auto& m : c["metrics"]["set"]) EXPECT_FALSE(p["metrics"][m.get<std::string>()]["reference"].is_null()) << f << ": " << m;
    const std::string name =
        f.parent_path().filename() == "configs" ? f.stem().string() : f.parent_path().filename().string() + "/" + f.stem().string();
    ASSERT_TRUE(cost_rows.count(name)) << name << " has no row in configs/README.md's cost table (scripts/config-costs.sh)";
    const auto& row = cost_rows[name];
    const Json& ev = p["denoiser_evaluations"];
    EXPECT_EQ(row[1], std::to_string(p["settings"].size())) << name;
    EXPECT_EQ(row[2], std::to_string(ev["per_input"]["done"].get<std::int64_t>())) << name;
    EXPECT_EQ(row[3], std::to_string(ev["per_input"]["if_independent"].get<std::int64_t>())) << name;
    EXPECT_FALSE(fs::exists("unused")) << "a dry run writes nothing";
  }
}

// The dry run's evaluation estimate is what a run then counts, for every method that uses the UNet,
// with and without sharing (diffedit's masks and inversions, guidance on and off, both modes).
TEST(Runner, DryRunEvaluationEstimateMatchesTheRun) {
  ScratchDir dir;
  Json c = small_config();
  c["dataset"]["limit"] = 1;
  c["metrics"] = {{"per_image", Json::array()}};
  c["methods"] = {{{"method", "diffedit"},
                   {"grid", {{"strength", {0.5, 0.75}}, {"threshold", {0.25, 0.5}}, {"guidance", {1.0, 5.0}}}},
                   {"parameters", {{"mask_samples", 3}}}},
                  {{"method", "diffedit"},
                   {"label", "compat"},
                   {"grid", {{"strength", {0.4, 0.8}}}},
                   {"parameters", {{"mode", "diffusers_compat"}, {"mask_samples", 2}}}},
                  {{"method", "diffedit"},
                   {"label", "negative"},
                   {"grid", {{"decode_negative", {"reference"}}, {"strength", {0.5}}}},
                   {"parameters", {{"mask_samples", 3}}}},
                  {{"method", "encode_decode"}, {"grid", {{"strength", {0.3, 0.75}}}}},
                  {{"method", "mask_no_encoding"}, {"grid", {{"strength", {0.5}}}}, {"parameters", {{"mask_samples", 2}}}},
                  {{"method", "diffedit_oracle_mask"}, {"grid", {{"strength", {0.6}}}}},
                  {{"method", "sdedit"}, {"grid", {{"strength", {0.55}}, {"guidance", {1.0, 3.0}}}}},
                  {{"method", "ilvr"}, {"grid", {{"strength", {0.5}}}}},
                  {{"method", "p2p"}, {"grid", {{"strength", {0.7}}}}},
                  {{"method", "masactrl"}, {"grid", {{"inversion", {"reference", "direct"}}}}, {"parameters", {{"start_layer", 5}}}},
                  {{"method", "pnp"},
                   {"grid", {{"inversion", {"reference", "direct"}}, {"strength", {0.6, 1.0}}}},
                   {"parameters", {{"feature_resnet", {0, 1}}, {"attention_from", {0, 1}}}}},
                  {{"method", "copy"}}};
  const auto config = write_config(dir / "cfg", c);
  const auto plan = run_cli({"run", config.string(), "--out", (dir / "out").string(), "--dry-run"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const Json estimate = Json::parse(plan.out)["denoiser_evaluations"];
  ASSERT_EQ(run_cli({"-q", "run", config.string(), "--out", (dir / "out").string(), "--no-cache"}).exit_code, 0);
  const Json summary = Json::parse(diffedit::fs::read_file(dir / "out" / "summary.json"));
  EXPECT_EQ(estimate["total"], summary["denoiser_evaluations"]) << estimate.dump(1);
  EXPECT_EQ(estimate["total_if_independent"], summary["denoiser_evaluations_if_independent"]) << estimate.dump(1);
  EXPECT_LT(estimate["total"].get<std::int64_t>(), estimate["total_if_independent"].get<std::int64_t>());

  // coco-images holds FID references, not edits: refused as the dataset, with the reason.
  c["dataset"] = {{"name", "coco-images"}, {"limit", 1}, {"root", "r"}, {"captions", "c.json"}};
  const auto refused = run_cli({"run", write_config(dir / "cfg2", c).string(), "--out", (dir / "out2").string(), "--dry-run"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("reference set"), std::string::npos) << refused.err;
}

// `launch --slurm --dry-run` in the default suite (the real single-node Slurm run has its own
// label): the batch scripts carry the options, and running them as Slurm would (each array task
// with its SLURM_ARRAY_TASK_ID, then the merge) reproduces a plain run's summary.
TEST(Runner, SlurmDryRunScriptsReproduceAPlainRun) {
  ScratchDir dir;
  Json c = small_config();
  c["methods"] = {{{"method", "diffedit"}, {"grid", {{"strength", {0.5}}}}, {"parameters", {{"mask_samples", 2}}}},
                  {{"method", "sdedit"}, {"grid", {{"strength", {0.5}}}}}};
  c["metrics"] = {{"per_image", {"mask_iou", "edit_success", "unedited_psnr"}}, {"classifier", c["metrics"]["classifier"]}};
  const auto config = write_config(dir / "cfg", c);
  const auto out = dir / "launched";
  const auto r = run_cli({"launch", config.string(), "--slurm", "--shards", "2", "--out", out.string(), "--dry-run", "--partition", "gpu",
                          "--time", "0:10:00", "--no-cache"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(not submitted)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out / "slurm" / "jobs.json")) << "nothing submitted";
  const std::string array = diffedit::fs::read_file(out / "slurm" / "shards.sbatch");
  for (const char* line :
       {"#SBATCH --array=0-1", "#SBATCH --partition=gpu", "#SBATCH --time=0:10:00", "--shard \"$SLURM_ARRAY_TASK_ID/2\""})
    EXPECT_NE(array.find(line), std::string::npos) << line << "\n" << array;
  for (int task = 0; task < 2; ++task)
    ASSERT_EQ(
        std::system(("SLURM_ARRAY_TASK_ID=" + std::to_string(task) + " bash '" + (out / "slurm" / "shards.sbatch").string() + "'").c_str()),
        0);
  ASSERT_EQ(std::system(("bash '" + (out / "slurm" / "merge.sbatch").string() + "'").c_str()), 0);
  ASSERT_EQ(run_cli({"-q", "run", config.string(), "--out", (dir / "plain").string(), "--no-cache"}).exit_code, 0);
  const Json merged = Json::parse(diffedit::fs::read_file(out / "summary.json"));
  const Json plain = Json::parse(diffedit::fs::read_file(dir / "plain" / "summary.json"));
  EXPECT_EQ(merged["metrics"], plain["metrics"]);
  EXPECT_EQ(merged["records"], plain["records"]);
}

TEST(Runner, NonFiniteDenoiserOutputFailsOnlyItsWorkItems) {
  ScratchDir dir;
  // The toy model with one NaN in the UNet's output bias: every UNet call is non-finite.
  fs::copy(models("toy-sd"), dir / "nan-sd", fs::copy_options::recursive);
  fs::path unet;
  for (const auto& e : fs::directory_iterator(dir / "nan-sd" / "unet"))
    if (e.path().extension() == ".safetensors") unet = e.path();
  auto tensors = diffedit::safetensors::load_all(unet);
  ASSERT_TRUE(tensors.count("conv_out.bias"));
  tensors["conv_out.bias"] = tensors["conv_out.bias"].clone();
  tensors["conv_out.bias"][0] = std::nan("");
  diffedit::safetensors::write(unet, tensors);

  Json c = small_config();
  c["model"] = (dir / "nan-sd").string();
  c["dataset"]["limit"] = 2;
  // SDEdit at r = 0 never calls the UNet (it returns the encoded input): it must still succeed.
  c["methods"] = Json::array({Json{{"method", "diffedit"}, {"grid", {{"strength", {0.5}}}}, {"parameters", {{"mask_samples", 2}}}},
                              Json{{"method", "sdedit"}, {"grid", {{"strength", {0.0}}}}}});
  const auto r = run_cli(run_args(write_config(dir / "cfg", c), dir / "out"));
  EXPECT_EQ(r.exit_code, 1) << "failures make the run's exit code 1\n" << r.err;
  const Json s = summary(dir / "out");
  EXPECT_EQ(s["records"]["present"], 4);
  EXPECT_EQ(s["records"]["failed"], 2);
  ASSERT_EQ(s["failures"].size(), 2u);
  for (const auto& f : s["failures"]) {
    EXPECT_NE(f["error"].get<std::string>().find("non-finite prediction at timestep"), std::string::npos) << f.dump();
    EXPECT_EQ(f["setting"], "diffedit/strength=0.5");
  }
  // Nothing non-finite reaches the table: the failed setting has no metric values, the other has all.
  EXPECT_EQ(s["metrics"]["diffedit"]["strength=0.5"], Json({{"n", 0}}));
  EXPECT_EQ(s["metrics"]["sdedit"]["strength=0.0"]["n"], 2);
  for (const auto& [k, v] : s["metrics"]["sdedit"]["strength=0.0"].items()) EXPECT_TRUE(std::isfinite(v.get<double>())) << k;
  // A re-run does not retry deterministic failures and leaves the same summary.
  EXPECT_EQ(run_cli(run_args(dir / "cfg" / "config.json", dir / "out")).exit_code, 1);
  EXPECT_EQ(summary(dir / "out")["failures"], s["failures"]);

  // Items pooled into batched decodings (batch_items): the batch falls back to one item at a time,
  // so the same work items, and only those, fail.
  c["decode_batch"] = 4;
  c["batch_items"] = 2;
  EXPECT_EQ(run_cli(run_args(write_config(dir / "cfg-batched", c), dir / "batched")).exit_code, 1);
  const Json sb = summary(dir / "batched");
  EXPECT_EQ(sb["records"], s["records"]);
  EXPECT_EQ(sb["failures"], s["failures"]);
}

// batch_items: the items' DiffEdit-family decodings pooled (3 items in batches of 2 and 1, 8
// decodings per call) give the records of a plain run: the same keys, masks (mask IoU) equal,
// the other values equal up to float rounding (images within 1e-4 of each other in the shared-edit
// test; asserted here on the metrics: 1e-3). batch_items without decode_batch is refused.
TEST(Runner, PooledItemsGiveTheRecordsOfAPlainRun) {
  ScratchDir dir;
  Json c = small_config();
  c["metrics"]["set"] = Json::array();
  ASSERT_EQ(run_cli(run_args(write_config(dir / "cfg", c), dir / "plain")).exit_code, 0);
  c["decode_batch"] = 8;
  c["batch_items"] = 2;
  const auto pooled = run_cli(run_args(write_config(dir / "cfg-pooled", c), dir / "pooled"));
  ASSERT_EQ(pooled.exit_code, 0) << pooled.err;
  const auto a = records(dir / "plain"), b = records(dir / "pooled");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, r] : b) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(a.count(key));
    const Json& ma = a.at(key)["metrics"];
    for (const auto& [name, v] : r["metrics"].items()) {
      if (name == "mask_iou" || name == "edit_success" || name == "predicted_class")
        EXPECT_EQ(v, ma[name]) << name;
      else
        EXPECT_NEAR(v.get<double>(), ma[name].get<double>(), 1e-3 * std::max(1.0, std::abs(ma[name].get<double>()))) << name;
    }
    EXPECT_EQ(r["denoiser_evaluations"], a.at(key)["denoiser_evaluations"]);
  }
  c["decode_batch"] = 1;
  const auto refused = run_cli(run_args(write_config(dir / "cfg-refused", c), dir / "refused"));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("batch_items"), std::string::npos) << refused.err;
}

// `device` and `dtype` (diffedit run --device/--dtype): the model computes in bfloat16 on the CPU,
// every record and the summary say so, and the edits stay close to float32's (bfloat16 keeps 8
// bits of mantissa; measured on this config's settings: mask IoU within 0.01 and unedited PSNR
// within 0.3 dB of float32; asserted: 0.05 and 1 dB at DiffEdit r = 0.5). A device this machine
// lacks, and float16 on the CPU, are refused before any work, naming the key.
TEST(Runner, DeviceAndDtypeAreRecordedAndCheckedBeforeAnyWork) {
  ScratchDir dir;
  Json c = small_config();
  c["metrics"]["set"] = Json::array();
  const auto config = write_config(dir / "cfg", c);
  ASSERT_EQ(run_cli(run_args(config, dir / "f32")).exit_code, 0);
  const auto bf16 = run_cli(run_args(config, dir / "bf16", {"--dtype", "bfloat16"}));
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  const auto a = records(dir / "f32"), b = records(dir / "bf16");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, r] : b) {
    EXPECT_EQ(r["dtype"], "bfloat16");
    EXPECT_EQ(r["device"], "cpu");
    ASSERT_TRUE(a.count(key)) << key;  // the record key does not depend on the dtype: the config does
    EXPECT_EQ(a.at(key)["dtype"], "float32");
  }
  const Json sa = summary(dir / "f32"), sb = summary(dir / "bf16");
  EXPECT_EQ(sb["this_invocation"]["dtype"], "bfloat16");
  const Json& ma = sa["metrics"]["diffedit"]["strength=0.5,threshold=0.5"];
  const Json& mb = sb["metrics"]["diffedit"]["strength=0.5,threshold=0.5"];
  EXPECT_NEAR(mb["mask_iou"].get<double>(), ma["mask_iou"].get<double>(), 0.05);
  EXPECT_NEAR(mb["unedited_psnr_db"].get<double>(), ma["unedited_psnr_db"].get<double>(), 1.0);
  EXPECT_NE(mb["unedited_psnr_db"], ma["unedited_psnr_db"]);  // it did compute in another precision

  // A results directory from before these keys existed resumes, merges and reports: the keys take
  // their defaults.
  Json old = diffedit::config::load_json(dir / "f32" / "config.json");
  old.erase("device");
  old.erase("dtype");
  diffedit::fs::write_atomic(dir / "f32" / "config.json", old.dump(2));
  const auto resumed = run_cli(run_args(config, dir / "f32"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(summary(dir / "f32")["this_invocation"]["records_computed"], 0);
  diffedit::fs::write_atomic(dir / "f32" / "config.json", old.dump(2));
  const auto merged = run_cli({"-q", "merge", (dir / "f32").string(), "--out", (dir / "merged").string()});
  EXPECT_EQ(merged.exit_code, 0) << merged.err;
  diffedit::fs::write_atomic(dir / "f32" / "config.json", old.dump(2));
  const auto report = run_cli({"-q", "report", (dir / "f32").string()});
  EXPECT_EQ(report.exit_code, 0) << report.err;

  const auto half = run_cli(run_args(config, dir / "f16", {"--dtype", "float16"}));
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("float16 needs --device cuda"), std::string::npos) << half.err;
  EXPECT_FALSE(fs::exists(dir / "f16" / "records"));
  if (!torch::cuda::is_available()) {
    const auto cuda = run_cli(run_args(config, dir / "cuda", {"--device", "cuda"}));
    EXPECT_EQ(cuda.exit_code, 2);
    EXPECT_NE(cuda.err.find("device: CUDA requested but not available"), std::string::npos) << cuda.err;
    EXPECT_FALSE(fs::exists(dir / "cuda" / "records"));
  }
}

// Without --threads or OMP_NUM_THREADS a run fits its thread count to the model
// (core/resources.h): the test pipeline's UNet is far below one grain per thread, so one thread.
TEST(Runner, ThreadCountFollowsTheModelWithoutAUserChoice) {
  ScratchDir dir;
  const auto config = write_config(dir / "cfg", small_config());
  const char* env = std::getenv("OMP_NUM_THREADS");
  const std::optional<std::string> saved = env ? std::optional<std::string>(env) : std::nullopt;
  ::unsetenv("OMP_NUM_THREADS");
  const int code = run_cli(run_args(config, dir / "out")).exit_code;
  if (saved) ::setenv("OMP_NUM_THREADS", saved->c_str(), 1);
  ASSERT_EQ(code, 0);
  const auto invocation = summary(dir / "out")["this_invocation"];
  EXPECT_EQ(invocation["threads"], 1);
  EXPECT_EQ(invocation["threads_choice"].get<std::string>().rfind("fitted to ", 0), 0u) << invocation.dump();
}

// Thread count: libtorch splits reductions (sums, means, norms) into per-thread partial sums, so
// float rounding may differ between thread counts. Measured bound: see the README (Determinism).
// The test asserts that bound and reports whether the run was bit-identical.
TEST(Runner, ThreadCountChangesResultsOnlyByRounding) {
  ScratchDir dir;
  const auto config = write_config(dir / "cfg", small_config());
  for (const int threads : {1, 2}) {
    auto args = run_args(config, dir / ("t" + std::to_string(threads)));
    args.insert(args.begin(), {"--threads", std::to_string(threads)});
    ASSERT_EQ(run_cli(args).exit_code, 0) << threads << " threads";
  }
  EXPECT_EQ(summary(dir / "t1")["this_invocation"]["threads"], 1);
  EXPECT_EQ(summary(dir / "t1")["this_invocation"]["threads_choice"], "--threads");
  EXPECT_EQ(summary(dir / "t2")["this_invocation"]["threads"], 2);
  const auto a = records(dir / "t1"), b = records(dir / "t2");
  ASSERT_EQ(a.size(), b.size());
  double worst_metric = 0, worst_pixel = 0;
  int identical_images = 0;
  for (const auto& [key, r] : a) {
    const Json& o = b.at(key);
    for (const auto& [name, v] : r["metrics"].items()) {
      const double x = v.get<double>(), y = o["metrics"][name].get<double>();
      worst_metric = std::max(worst_metric, std::abs(x - y) / std::max(1.0, std::abs(x)));
    }
    const at::Tensor ia = diffedit::image::read(dir / "t1" / r["image"].get<std::string>());
    const at::Tensor ib = diffedit::image::read(dir / "t2" / o["image"].get<std::string>());
    worst_pixel = std::max(worst_pixel, (ia - ib).abs().max().item<double>() * 255.0);
    identical_images += at::equal(ia, ib);
  }
  std::printf(
      "threads 1 vs 2: %d/%zu images bit-identical, largest pixel difference %.0f/255, largest metric "
      "difference %.3g (relative)\n",
      identical_images, a.size(), worst_pixel, worst_metric);
  EXPECT_LE(worst_pixel, 2.0);
  EXPECT_LE(worst_metric, 1e-3);
}

// FlexIT's protocol takes CSFID's class means from statistics of another image set (ImageNet
// train): `metrics stats --by-class` writes them and `metrics.reference_stats` uses them. Here the
// same 64 val-split toy images as image folders give the numbers of the in-memory reference
// (up to the PNG rounding of the files).
TEST(Runner, ReferenceStatisticsByClassGiveTheNumbersOfTheReferenceImages) {
  ScratchDir dir;
  for (std::int64_t c = 0; c < diffedit::data::toyworld::num_classes(); ++c) {
    char name[24];
    std::snprintf(name, sizeof name, "c%02lld", static_cast<long long>(c));
    fs::create_directories(dir / "ref" / name);
  }
  // The images of the reference dataset the run below reads: the default world's val split.
  const auto world = diffedit::data::toyworld::preset(diffedit::data::toyworld::kDefaultPreset);
  for (std::int64_t i = 0; i < 64; ++i) {
    const auto item = diffedit::data::toyworld::generate("val", i, 0, world);
    char name[24];
    std::snprintf(name, sizeof name, "c%02lld", static_cast<long long>(item.label));
    diffedit::image::write(dir / "ref" / name / (std::to_string(i) + ".png"), item.image);
  }
  const auto stats = run_cli({"-q", "metrics", "stats", "--images", (dir / "ref").string(), "--by-class", "--net", "toy-classifier",
                              "--weights", models("toy-classifier"), "--out", (dir / "ref.h5").string(), "--no-cache"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;

  Json c = small_config();
  c["methods"] = Json::array({Json{{"method", "copy"}}, Json{{"method", "sdedit"}, {"grid", {{"strength", {0.5}}}}}});
  c["dataset"]["limit"] = 4;
  c["metrics"]["per_image"] = Json::array();
  c["metrics"]["set"] = {"csfid", "sfid", "fid"};
  c["metrics"]["reference"] = {{"name", "toy-imagenet"}, {"split", "val"}, {"limit", 64}};
  ASSERT_EQ(run_cli(run_args(write_config(dir / "a", c), dir / "images")).exit_code, 0);
  c["metrics"]["reference"] = nullptr;
  c["metrics"]["reference_stats"] = (dir / "ref.h5").string();
  const auto r = run_cli(run_args(write_config(dir / "b", c), dir / "stats"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json a = summary(dir / "images")["metrics"], b = summary(dir / "stats")["metrics"];
  for (const char* label : {"copy", "sdedit"})
    for (const auto& [setting, values] : a[label].items())
      for (const char* metric : {"csfid", "sfid", "fid"}) {
        const double x = values[metric], y = b[label][setting][metric];
        EXPECT_NEAR(y, x, 0.02 * std::abs(x) + 1e-6) << label << " " << setting << " " << metric;
      }

  // KID and the per-class Fréchet average need the reference images themselves.
  c["metrics"]["set"] = {"kid"};
  const auto kid = run_cli(run_args(write_config(dir / "c", c), dir / "kid"));
  EXPECT_EQ(kid.exit_code, 2);
  EXPECT_NE(kid.err.find("metrics kid needs reference images"), std::string::npos) << kid.err;
}
