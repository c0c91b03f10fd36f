#include "eval/regress.h"

#include <cmath>
#include <cstdio>

#include "core/errors.h"
#include "eval/summary.h"

namespace diffedit::eval {

using config::Json;

bool RegressReport::passed() const {
  for (const auto& r : rows)
    if (r.status == RegressRow::changed || r.status == RegressRow::missing) return false;
  return true;
}

std::string RegressReport::table(bool only_problems) const {
  std::size_t width = 6;
  for (const auto& r : rows) width = std::max(width, r.metric.size());
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %14s %14s %12s %10s  %s\n", static_cast<int>(width), "metric", "baseline", "current", "delta",
                "abs_tol", "status");
  out += line;
  for (const auto& r : rows) {
    if (only_problems && r.status == RegressRow::ok) continue;
    const char* status = r.status == RegressRow::ok        ? "ok"
                         : r.status == RegressRow::changed ? "CHANGED"
                         : r.status == RegressRow::missing ? "MISSING"
                                                           : "new";
    std::snprintf(line, sizeof line, "%-*s %14.6g %14.6g %12.3g %10.3g  %s\n", static_cast<int>(width), r.metric.c_str(), r.baseline,
                  r.current, r.current - r.baseline, r.abs_tol, status);
    out += line;
  }
  return out;
}

RegressReport compare_with_baseline(const Json& summary, const Json& baseline, const std::string& source) {
  if (!baseline.is_object() || !baseline.contains("metrics") || !baseline["metrics"].is_object())
    throw FormatError(source, "a baseline is {\"metrics\": {\"<label>/<setting>/<metric>\": {\"value\": v, \"abs_tol\": t}}}");
  const auto current = flatten_metrics(summary);
  RegressReport report;
  for (const auto& [name, entry] : baseline["metrics"].items()) {
    if (!entry.is_object() || !entry.contains("value") || !entry["value"].is_number() || !entry.contains("abs_tol") ||
        !entry["abs_tol"].is_number() || entry["abs_tol"].get<double>() < 0)
      throw FormatError(source, "metrics." + name + ": needs a numeric value and a non-negative abs_tol");
    RegressRow row{name, entry["value"].get<double>(), std::nan(""), entry["abs_tol"].get<double>()};
    const auto it = current.find(name);
    if (it == current.end())
      row.status = RegressRow::missing;
    else {
      row.current = it->second;
      row.status = std::isfinite(row.current) && std::abs(row.current - row.baseline) <= row.abs_tol ? RegressRow::ok : RegressRow::changed;
    }
    report.rows.push_back(row);
  }
  for (const auto& [name, value] : current)
    if (!baseline["metrics"].contains(name)) report.rows.push_back({name, std::nan(""), value, 0, RegressRow::added});
  return report;
}

Json make_baseline(const Json& summary, const Json& previous, double abs_tol, double rel_tol) {
  Json metrics = Json::object();
  const bool has_previous = previous.is_object() && previous.contains("metrics") && previous["metrics"].is_object();
  for (const auto& [name, value] : flatten_metrics(summary)) {
    // A tolerance widened by hand survives an update, but one set when the value was near zero
    // must not stay below the relative floor of a value that has since grown.
    double tol = std::max(abs_tol, rel_tol * std::abs(value));
    if (has_previous && previous["metrics"].contains(name) && previous["metrics"][name].contains("abs_tol"))
      tol = std::max(tol, previous["metrics"][name]["abs_tol"].get<double>());
    metrics[name] = {{"value", value}, {"abs_tol", tol}};
  }
  return {{"metrics", metrics}, {"source", {{"name", summary.value("name", "")}, {"git_revision", summary.value("git_revision", "")}}}};
}

}  // namespace diffedit::eval
