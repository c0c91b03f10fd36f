// The report's Claims: curves built from a run's settings, dominance as the paper reads its
// figures, and which findings a run's methods and dataset allow.
#include <gtest/gtest.h>

#include <functional>

#include "eval/claims.h"
#include "eval/experiment.h"

namespace ev = diffedit::eval;
using diffedit::config::Json;

namespace {

ev::Experiment experiment(const std::string& dataset, const Json& methods) {
  const Json c = {
      {"name", "claims-test"}, {"model", "models/toy-sd"}, {"dataset", {{"name", dataset}, {"limit", 4}}}, {"methods", methods}};
  return ev::make_experiment(ev::experiment_schema().validate(c, "test"), "test");
}

// A summary whose every setting gets {edit_success, unedited_psnr_db, n} from `point`.
Json summary_of(const ev::Experiment& e, const std::function<std::pair<double, double>(const ev::PlannedSetting&)>& point) {
  Json metrics = Json::object();
  for (const auto& s : e.settings) {
    const auto [success, psnr] = point(s);
    metrics[s.label][s.name] = {{"edit_success", success}, {"unedited_psnr_db", psnr}, {"n", 100}};
  }
  return {{"metrics", metrics}};
}

const ev::Claim* find(const std::vector<ev::Claim>& claims, const std::string& statement) {
  for (const auto& c : claims)
    if (c.statement == statement) return &c;
  return nullptr;
}

}  // namespace

TEST(Claims, DominanceIsEveryPointMatchedOrBeatenOnBothAxes) {
  const ev::TradeoffAxes up{"edit_success", "unedited_psnr_db", true, true};
  ev::Curve a{.name = "A", .points = {{"r=0.5", 0.5, 0.4, 30}, {"r=0.8", 0.8, 0.7, 28}}};
  ev::Curve b{.name = "B", .points = {{"r=0.5", 0.5, 0.3, 29}, {"r=0.8", 0.8, 0.7, 28}}};
  EXPECT_TRUE(ev::curve_dominates(a, b, up)) << "a tie counts as matched";
  EXPECT_FALSE(ev::curve_dominates(b, a, up));
  b.points.push_back({"r=1", 1.0, 0.75, 20});
  EXPECT_FALSE(ev::curve_dominates(a, b, up)) << "B's r=1 has more success than any A point";
  // With lower-is-better axes the same numbers mean the opposite.
  const ev::TradeoffAxes down{"csfid", "lpips", false, false};
  b.points.pop_back();
  EXPECT_TRUE(ev::curve_dominates(b, a, down));
  EXPECT_FALSE(ev::curve_dominates(a, ev::Curve{}, up)) << "an empty curve is not dominated";
}

TEST(Claims, AxesAreTheFirstMeasuredOfEachKind) {
  auto axes = ev::tradeoff_axes({{"metrics", {{"X", {{"s", {{"lpips", 0.1}, {"csfid", 3.0}, {"clip_score", 0.3}}}}}}}});
  EXPECT_EQ(axes.edit, "csfid");
  EXPECT_FALSE(axes.edit_higher_is_better);
  EXPECT_EQ(axes.fidelity, "lpips");
  axes = ev::tradeoff_axes({{"metrics", {{"X", {{"s", {{"lpips", 0.1}, {"unedited_psnr_db", 30.0}, {"edit_success", 0.5}}}}}}}});
  EXPECT_EQ(axes.edit, "edit_success");
  EXPECT_EQ(axes.fidelity, "unedited_psnr_db");
  EXPECT_TRUE(ev::tradeoff_axes({{"metrics", {{"X", {{"s", {{"n", 3}}}}}}}}).edit.empty());
}

TEST(Claims, FiguresFourAndSixFromTheRunsCurves) {
  const Json strengths = {0.3, 0.6, 0.9};
  const auto e =
      experiment("toy-imagenet",
                 {{{"method", "diffedit"}, {"label", "DiffEdit"}, {"grid", {{"strength", strengths}, {"threshold", {0.25, 0.5, 0.75}}}}},
                  {{"method", "sdedit"}, {"label", "SDEdit"}, {"grid", {{"strength", strengths}}}},
                  {{"method", "encode_decode"}, {"label", "Encode-Decode"}, {"grid", {{"strength", strengths}}}}});
  // DiffEdit at 0.5: success r, PSNR 40 - 10 r. 0.25: the same success at 2 dB less (dominated);
  // 0.75: more success at r = 0.9 than 0.5 reaches (not dominated). SDEdit: r - 0.1 at 30 - 10 r.
  // Encode-Decode: success r at 35 - 10 r, i.e. dominates SDEdit, dominated by DiffEdit.
  const Json summary = summary_of(e, [](const ev::PlannedSetting& s) -> std::pair<double, double> {
    const double r = s.grid_values["strength"];
    if (s.method == "sdedit") return {r - 0.1, 30 - 10 * r};
    if (s.method == "encode_decode") return {r, 35 - 10 * r};
    const double t = s.grid_values["threshold"];
    if (t == 0.25) return {r, 38 - 10 * r};
    if (t == 0.75) return {r == 0.9 ? 0.95 : r - 0.2, 40 - 10 * r};
    return {r, 40 - 10 * r};
  });
  const auto claims = ev::check_claims(e, summary);
  ASSERT_EQ(claims.size(), 5u) << "no ILVR, no DiffEdit without encoding, not a generated split";
  const auto* fig4 = find(claims, "DiffEdit (threshold=0.5) dominates SDEdit");
  ASSERT_NE(fig4, nullptr);
  EXPECT_EQ(fig4->figure, "Figure 4");
  EXPECT_TRUE(fig4->holds);
  EXPECT_NE(fig4->evidence.find("strength=0.3,threshold=0.5 (0.3 ± 0.046, 37)"), std::string::npos) << fig4->evidence;
  EXPECT_TRUE(find(claims, "Encode-Decode dominates SDEdit")->holds);
  EXPECT_TRUE(find(claims, "DiffEdit (threshold=0.5) dominates Encode-Decode")->holds);
  EXPECT_TRUE(find(claims, "DiffEdit (threshold=0.5) dominates DiffEdit (threshold=0.25)")->holds);
  const auto* t75 = find(claims, "DiffEdit (threshold=0.5) dominates DiffEdit (threshold=0.75)");
  ASSERT_NE(t75, nullptr);
  EXPECT_FALSE(t75->holds);
  EXPECT_NE(t75->evidence.find("points no DiffEdit (threshold=0.5) point matches: strength=0.9,threshold=0.75"), std::string::npos)
      << t75->evidence;
  const std::string md = ev::claims_markdown(claims, ev::tradeoff_axes(summary));
  EXPECT_NE(md.find("- **does not hold** — Figure 6 right"), std::string::npos) << md;
  EXPECT_EQ(ev::claims_json(claims, ev::tradeoff_axes(summary))["claims"].size(), 5u);
}

TEST(Claims, ReferenceTextClaimOnlyOnGeneratedImages) {
  const Json methods = {
      {{"method", "diffedit"}, {"label", "DiffEdit"}, {"grid", {{"strength", {0.5, 0.8}}, {"reference_text", {"dataset", "none"}}}}}};
  const auto point = [](const ev::PlannedSetting& s) -> std::pair<double, double> {
    const double r = s.grid_values["strength"];
    return {r, (s.grid_values["reference_text"] == "dataset" ? 35.0 : 33.0) - r};
  };
  const auto generated = experiment("toy-generated", methods);
  const auto claims = ev::check_claims(generated, summary_of(generated, point));
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].figure, "Figure 7");
  EXPECT_EQ(claims[0].statement, "DiffEdit (reference_text=dataset) dominates DiffEdit (reference_text=none)");
  EXPECT_TRUE(claims[0].holds);
  const auto coco = experiment("toy-coco", methods);
  EXPECT_TRUE(ev::check_claims(coco, summary_of(coco, point)).empty());
}

TEST(Claims, LatentOperatorAgainstTheGlideStyleOne) {
  const auto e = experiment("toy-imagenet", {{{"method", "diffedit"}, {"label", "DiffEdit"}, {"grid", {{"strength", {0.8}}}}},
                                             {{"method", "diffedit"},
                                              {"label", "DiffEdit GLIDE-style"},
                                              {"grid", {{"strength", {0.8}}}},
                                              {"parameters", {{"mask_operator", "glide"}}}}});
  const auto claims = ev::check_claims(e, summary_of(e, [](const ev::PlannedSetting& s) -> std::pair<double, double> {
                                         return {s.label == "DiffEdit" ? 0.6 : 0.5, 30.0};
                                       }));
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].figure, "§4.2");
  EXPECT_EQ(claims[0].statement, "DiffEdit dominates DiffEdit GLIDE-style");
  EXPECT_TRUE(claims[0].holds);
}
