// The PIE-Bench toy twin end to end: configs/toy/piebench.json runs on the toy world exported in
// PIE-Bench's layout (datasets/toy-piebench), every record carries its editing type and PIE-Bench's
// Table 1 metrics, the summary breaks them down by editing type and the report writes that table.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "core/fs.h"
#include "edit_request.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "test_support.h"
#include "tiny_pipeline.h"

namespace {

using diffedit::config::Json;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;
namespace fs = std::filesystem;

TEST(PieBenchRuns, ToyTwinRecordsTheTableMetricsAndReportsThemByEditingType) {
  ScratchDir dir;
  // The config names models/ and datasets/ relative to the repository root, where users run it
  // (ctest runs tests in the build tree).
  const auto previous = fs::current_path();
  fs::current_path(diffedit::testing::source_dir());
  struct Restore {
    fs::path dir;
    ~Restore() { fs::current_path(dir); }
  } restore{previous};
  const fs::path config = diffedit::testing::source_dir() / "configs" / "toy" / "piebench.json";
  // Small: 4 items, 6 steps (CI time); every method of the config.
  const auto r = run_cli({"-q", "--threads", "1", "run", config.string(), "--out", (dir / "out").string(), "--no-cache", "dataset.limit=4",
                          "steps=6", "methods.1.parameters.null_text_inner_steps=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json summary = diffedit::config::load_json(dir / "out" / "summary.json");
  ASSERT_TRUE(summary["complete"].get<bool>());

  const std::set<std::string> table = {"pie_structure_distance",
                                       "pie_psnr_unedit_part",
                                       "pie_lpips_unedit_part",
                                       "pie_mse_unedit_part",
                                       "pie_ssim_unedit_part",
                                       "pie_clip_similarity_target_image",
                                       "pie_clip_similarity_target_image_edit_part"};
  std::set<std::string> categories;
  std::int64_t records = 0;
  for (const auto& e : fs::directory_iterator(dir / "out" / "records")) {
    if (e.path().extension() != ".json") continue;
    const Json rec = diffedit::config::load_json(e.path());
    ++records;
    ASSERT_EQ(rec["status"], "ok") << rec.dump();
    ASSERT_TRUE(rec["category"].is_string()) << "every toy edit has an editing type";
    categories.insert(rec["category"].get<std::string>());
    EXPECT_EQ(rec["item_id"].get<std::string>().size(), 12u) << "PIE-Bench's 12-digit key";
    for (const auto& m : table) {
      ASSERT_TRUE(rec["metrics"].contains(m)) << m << " in " << e.path();
      EXPECT_TRUE(std::isfinite(rec["metrics"][m].get<double>())) << m;
    }
    EXPECT_GE(rec["metrics"]["pie_structure_distance"].get<double>(), 0.0);
    EXPECT_LE(rec["metrics"]["pie_ssim_unedit_part"].get<double>(), 1.0);
    if (rec["method"] == "p2p" || rec["method"] == "masactrl" || rec["method"] == "pnp") {
      EXPECT_TRUE(rec["details"].contains("reconstruction_psnr"))
          << "two-branch records state how well the source branch reconstructs the input";
    }
  }
  EXPECT_EQ(records, 4 * 12);  // 12 settings (SDEdit at two r)

  // The summary's per-type means cover every record once.
  ASSERT_TRUE(summary.contains("by_category"));
  std::set<std::string> summarised;
  std::int64_t n = 0;
  for (const auto& [category, labels] : summary["by_category"].items()) {
    summarised.insert(category);
    for (const auto& [label, settings] : labels.items())
      for (const auto& [setting, values] : settings.items()) {
        n += values["n"].get<std::int64_t>();
        for (const auto& m : table) EXPECT_TRUE(values.contains(m)) << category << " " << label << " " << m;
      }
  }
  EXPECT_EQ(summarised, categories);
  EXPECT_EQ(n, records);

  // The report: a section per editing type and one CSV with a category column.
  ASSERT_EQ(run_cli({"-q", "report", (dir / "out").string()}).exit_code, 0);
  const std::string md = diffedit::fs::read_file(dir / "out" / "report" / "categories.md");
  for (const auto& c : categories) EXPECT_NE(md.find("## " + c), std::string::npos) << c;
  const std::string csv = diffedit::fs::read_file(dir / "out" / "report" / "categories.csv");
  EXPECT_EQ(csv.rfind("category,method,setting,", 0), 0u) << csv.substr(0, 80);
  EXPECT_NE(csv.find(",n"), std::string::npos) << "the count of each category's records is a column";
}

// local_blend_words "dataset": P2P blends on the request's own words (PIE-Bench's blended_word),
// exactly as with the same words given in the config; a request without words is not blended.
TEST(PieBenchRuns, P2PBlendsOnEachItemsOwnWords) {
  namespace ed = diffedit::editing;
  ScratchDir dir;
  auto sd = diffedit::pipelines::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(dir / "tiny"));
  auto request = diffedit::testing::tiny_edit_request(sd, 7);  // "a red circle" -> "a blue square"
  const Json base = {{"strength", 0.5}, {"steps", 4}, {"guidance", 3.0}};
  auto edit = [&](const Json& blend, const ed::EditRequest& r) {
    Json p = base;
    p["local_blend_words"] = blend;
    ed::SeededNoise noise(r.seed);
    return ed::make_method("p2p", p, "test")->edit(sd, r, noise);
  };
  request.blend_source_words = {"red"};
  request.blend_target_words = {"blue"};
  const auto from_dataset = edit("dataset", request);
  const auto given = edit(Json::array({Json::array({"red"}), Json::array({"blue"})}), request);
  EXPECT_TRUE(at::equal(from_dataset.image, given.image));
  ASSERT_TRUE(from_dataset.mask.defined()) << "LocalBlend's mask";

  request.blend_source_words.clear();
  request.blend_target_words.clear();
  const auto without = edit("dataset", request);
  const auto off = edit(nullptr, request);
  EXPECT_TRUE(at::equal(without.image, off.image));
  EXPECT_FALSE(at::equal(without.image, from_dataset.image));
}

// equalizer_words "dataset": P2P re-weights the request's target blend words (PIE-Bench's
// blended_word[1], by 2) exactly as the same words given; a request without words is not re-weighted.
TEST(PieBenchRuns, P2PReweightsEachItemsTargetWord) {
  namespace ed = diffedit::editing;
  ScratchDir dir;
  auto sd = diffedit::pipelines::StableDiffusion::load(diffedit::testing::make_tiny_pipeline(dir / "tiny"));
  auto request = diffedit::testing::tiny_edit_request(sd, 7);  // "a red circle" -> "a blue square"
  auto edit = [&](const Json& words, const Json& values, const ed::EditRequest& r) {
    const Json p = {{"strength", 0.5},           {"steps", 4}, {"guidance", 3.0}, {"edit", "refine"}, {"equalizer_words", words},
                    {"equalizer_values", values}};
    ed::SeededNoise noise(r.seed);
    return ed::make_method("p2p", p, "test")->edit(sd, r, noise);
  };
  request.blend_source_words = {"circle"};
  request.blend_target_words = {"square"};
  const auto from_dataset = edit("dataset", {2.0}, request);
  EXPECT_TRUE(at::equal(from_dataset.image, edit(Json::array({"square"}), {2.0}, request).image));
  const auto plain = edit(Json::array(), Json::array(), request);
  EXPECT_FALSE(at::equal(from_dataset.image, plain.image));

  request.blend_source_words.clear();
  request.blend_target_words.clear();
  EXPECT_TRUE(at::equal(edit("dataset", {2.0}, request).image, plain.image));
  EXPECT_THROW(ed::make_method("p2p", {{"equalizer_words", "dataset"}, {"equalizer_values", {2.0, 3.0}}}, "test"), diffedit::ConfigError);
}

}  // namespace
