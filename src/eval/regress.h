// Regression tracking: a run's summary metrics against a committed baseline of the form
// {"metrics": {"<label>/<setting>/<metric>": {"value": v, "abs_tol": t}}}. A metric fails when it
// moves by more than its tolerance, is missing from the run, or is not finite.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::eval {

struct RegressRow {
  std::string metric;
  double baseline = 0, current = 0, abs_tol = 0;
  enum Status { ok, changed, missing, added } status = ok;
};

struct RegressReport {
  std::vector<RegressRow> rows;
  bool passed() const;
  std::string table(bool only_problems) const;  // aligned text, one metric per line
};

// FormatError naming `baseline_source` for a baseline not of the documented form.
RegressReport compare_with_baseline(const config::Json& summary, const config::Json& baseline, const std::string& baseline_source);

// A baseline from a summary: each metric's tolerance is max(abs_tol, rel_tol * |value|), or its
// tolerance in `previous` where that is larger.
config::Json make_baseline(const config::Json& summary, const config::Json& previous, double abs_tol, double rel_tol);

}  // namespace diffedit::eval
