#include "eval/claims.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "eval/metric_registry.h"

namespace diffedit::eval {

using config::Json;

namespace {

std::string format(double v, int digits = 3) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

// The grid key a method's curve sweeps.
std::string swept_key(const Json& grid_values) {
  for (const char* k : {"strength", "factor", "iterations"})
    if (grid_values.contains(k)) return k;
  return "";
}

std::string describe(const CurvePoint& p) {
  std::string s = p.setting + " (" + format(p.edit);
  if (p.edit_se >= 0) s += " ± " + format(p.edit_se, 2);
  return s + ", " + format(p.fidelity) + ")";
}

std::string describe(const Curve& c) {
  std::string s = c.name + ": ";
  for (std::size_t i = 0; i < c.points.size(); ++i) s += (i ? "; " : "") + describe(c.points[i]);
  return s;
}

bool better_or_equal(double x, double y, bool higher_is_better) { return higher_is_better ? x >= y : x <= y; }

// Whether some point of `a` matches or beats `p` on both axes.
bool matched(const Curve& a, const CurvePoint& p, const TradeoffAxes& axes) {
  return std::any_of(a.points.begin(), a.points.end(), [&](const CurvePoint& q) {
    return better_or_equal(q.edit, p.edit, axes.edit_higher_is_better) &&
           better_or_equal(q.fidelity, p.fidelity, axes.fidelity_higher_is_better);
  });
}

// Whether the curve's parameters agree with `preferred` on every key they have.
bool agrees(const Curve& c, const Json& preferred) {
  for (const auto& [k, v] : preferred.items())
    if (c.parameters.contains(k) && c.parameters[k] != v) return false;
  return true;
}

// The first curve of `method` (config order) that agrees with `preferred`.
const Curve* curve_of(const std::vector<Curve>& curves, const std::string& method, const Json& preferred = Json::object()) {
  for (const auto& c : curves)
    if (c.method == method && agrees(c, preferred)) return &c;
  return nullptr;
}

Claim dominance_claim(const std::string& figure, const Curve& a, const Curve& b, const TradeoffAxes& axes) {
  Claim c;
  c.figure = figure;
  c.statement = a.name + " dominates " + b.name;
  c.holds = curve_dominates(a, b, axes);
  std::string unmatched;
  for (const auto& p : b.points)
    if (!matched(a, p, axes)) unmatched += (unmatched.empty() ? "" : ", ") + p.setting;
  c.evidence = describe(a) + " | " + describe(b) +
               (unmatched.empty() ? "" : " | " + b.name + " points no " + a.name + " point matches: " + unmatched);
  return c;
}

}  // namespace

double binomial_standard_error(double p, std::int64_t n) {
  return n > 0 ? std::sqrt(std::max(0.0, p * (1 - p)) / static_cast<double>(n)) : std::nan("");
}

TradeoffAxes tradeoff_axes(const Json& summary) {
  std::map<std::string, bool> present;
  if (summary.contains("metrics"))
    for (const auto& [label, settings] : summary["metrics"].items())
      for (const auto& [setting, values] : settings.items())
        for (const auto& [k, v] : values.items())
          if (v.is_number()) present[k] = true;
  TradeoffAxes a;
  for (const auto& v : axis_values(Axis::edit))
    if (present.count(v.shown_as())) {
      a.edit = v.shown_as();
      a.edit_higher_is_better = v.better == Better::higher;
      break;
    }
  for (const auto& v : axis_values(Axis::fidelity))
    if (present.count(v.shown_as())) {
      a.fidelity = v.shown_as();
      a.fidelity_higher_is_better = v.better == Better::higher;
      break;
    }
  return a;
}

std::vector<Curve> tradeoff_curves(const Experiment& e, const Json& summary, const TradeoffAxes& axes) {
  std::vector<Curve> curves;
  if (axes.edit.empty() || axes.fidelity.empty() || !summary.contains("metrics")) return curves;
  const Json& metrics = summary["metrics"];
  for (const auto& s : e.settings) {
    if (!metrics.contains(s.label) || !metrics[s.label].contains(s.name)) continue;
    const Json& v = metrics[s.label][s.name];
    if (!v.contains(axes.edit) || !v.contains(axes.fidelity)) continue;
    const std::string key = swept_key(s.grid_values);
    Json fixed = s.grid_values;
    if (!key.empty()) fixed.erase(key);
    auto it = std::find_if(curves.begin(), curves.end(),
                           [&](const Curve& c) { return c.label == s.label && c.method == s.method && c.fixed == fixed; });
    if (it == curves.end()) {
      Curve c;
      c.method = s.method;
      c.label = s.label;
      c.fixed = fixed;
      c.parameters = s.parameters;
      if (!key.empty()) c.parameters.erase(key);
      c.name = s.label;
      if (!fixed.empty()) {
        std::string f;
        for (const auto& [k, x] : fixed.items()) f += (f.empty() ? "" : ", ") + k + "=" + (x.is_string() ? x.get<std::string>() : x.dump());
        c.name += " (" + f + ")";
      }
      curves.push_back(c);
      it = curves.end() - 1;
    }
    CurvePoint p;
    p.setting = s.name;
    p.sweep = key.empty() ? 0.0 : s.grid_values[key].get<double>();
    p.edit = v[axes.edit];
    p.fidelity = v[axes.fidelity];
    p.n = v.value("n", std::int64_t{0});
    if (axes.edit == "edit_success" && p.n > 0) p.edit_se = binomial_standard_error(p.edit, p.n);
    it->points.push_back(p);
  }
  for (auto& c : curves)
    std::stable_sort(c.points.begin(), c.points.end(), [](const CurvePoint& x, const CurvePoint& y) { return x.sweep < y.sweep; });
  return curves;
}

bool curve_dominates(const Curve& a, const Curve& b, const TradeoffAxes& axes) {
  if (a.points.empty() || b.points.empty()) return false;
  return std::all_of(b.points.begin(), b.points.end(), [&](const CurvePoint& p) { return matched(a, p, axes); });
}

std::vector<Claim> check_claims(const Experiment& e, const Json& summary) {
  const TradeoffAxes axes = tradeoff_axes(summary);
  const std::vector<Curve> curves = tradeoff_curves(e, summary, axes);
  std::vector<Claim> claims;
  const Json paper = {{"threshold", 0.5}, {"reference_text", "dataset"}, {"mask_operator", "latent"}};
  const Curve* diffedit = curve_of(curves, "diffedit", paper);
  const Curve* sdedit = curve_of(curves, "sdedit");
  const Curve* ilvr = curve_of(curves, "ilvr");
  const Curve* encode_decode = curve_of(curves, "encode_decode");
  const Curve* no_encoding = curve_of(curves, "mask_no_encoding");
  if (diffedit && sdedit) claims.push_back(dominance_claim("Figure 4", *diffedit, *sdedit, axes));
  if (diffedit && ilvr) claims.push_back(dominance_claim("Figure 4", *diffedit, *ilvr, axes));
  if (encode_decode && sdedit) claims.push_back(dominance_claim("Figure 6 left", *encode_decode, *sdedit, axes));
  if (no_encoding && sdedit) claims.push_back(dominance_claim("Figure 6 left", *no_encoding, *sdedit, axes));
  if (diffedit && encode_decode) claims.push_back(dominance_claim("Figure 6 left", *diffedit, *encode_decode, axes));
  if (diffedit && no_encoding) claims.push_back(dominance_claim("Figure 6 left", *diffedit, *no_encoding, axes));
  // Thresholds: DiffEdit's curves that differ only in the threshold.
  Json paper_but_threshold = paper;
  paper_but_threshold.erase("threshold");
  std::map<double, const Curve*> by_threshold;  // the first curve at each threshold
  for (const auto& c : curves)
    if (c.method == "diffedit" && c.parameters.contains("threshold") && agrees(c, paper_but_threshold))
      by_threshold.emplace(c.parameters["threshold"].get<double>(), &c);
  if (by_threshold.count(0.5))
    for (const double other : {0.25, 0.75})
      if (by_threshold.count(other)) claims.push_back(dominance_claim("Figure 6 right", *by_threshold[0.5], *by_threshold[other], axes));
  // Reference text on generated images.
  if (e.dataset.name == "toy-generated" || e.dataset.name == "imagen-pairs") {
    Json none = paper;
    none["reference_text"] = "none";
    const Curve* without = curve_of(curves, "diffedit", none);
    if (diffedit && without && diffedit != without) claims.push_back(dominance_claim("Figure 7", *diffedit, *without, axes));
  }
  Json glide = paper;
  glide["mask_operator"] = "glide";
  const Curve* glide_curve = curve_of(curves, "diffedit", glide);
  if (diffedit && glide_curve && diffedit != glide_curve) claims.push_back(dominance_claim("§4.2", *diffedit, *glide_curve, axes));
  return claims;
}

std::string claims_markdown(const std::vector<Claim>& claims, const TradeoffAxes& axes) {
  std::string s = "## Claims\n\n";
  if (claims.empty()) return s + "No finding of the paper applies to this run's methods and metrics.\n";
  s += "Axes: " + axes.edit + (axes.edit_higher_is_better ? " (higher is better)" : " (lower is better)") + " vs " + axes.fidelity +
       (axes.fidelity_higher_is_better ? " (higher is better)" : " (lower is better)") +
       ". A curve dominates another when every point of the other is matched or beaten on both axes by one of its points. "
       "Points: setting (" +
       axes.edit + (axes.edit == "edit_success" ? " ± standard error" : "") + ", " + axes.fidelity + ").\n\n";
  for (const auto& c : claims)
    s += "- **" + std::string(c.holds ? "holds" : "does not hold") + "** — " + c.figure + ": " + c.statement + ". " + c.evidence + "\n";
  return s;
}

Json claims_json(const std::vector<Claim>& claims, const TradeoffAxes& axes) {
  Json list = Json::array();
  for (const auto& c : claims)
    list.push_back({{"figure", c.figure}, {"statement", c.statement}, {"holds", c.holds}, {"evidence", c.evidence}});
  return {{"axes", {{"edit", axes.edit}, {"fidelity", axes.fidelity}}}, {"claims", list}};
}

}  // namespace diffedit::eval
