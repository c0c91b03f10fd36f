// `diffedit regress DIR --baseline FILE.json [--update]`: compares DIR/summary.json with a
// baseline; exit 1 when a metric moved beyond its tolerance or is missing. --update writes the
// run's metrics as the new baseline (keeping existing tolerances).
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "eval/regress.h"

namespace diffedit::cli {

Command add_regress(CLI::App& app) {
  struct Args {
    std::string dir, baseline;
    bool update = false, all = false;
    double abs_tol = 1e-6, rel_tol = 1e-4;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("regress", "Compare a run's summary metrics with a baseline (regression tracking)");
  sub->add_option("dir", a->dir, "Results directory (with summary.json)")->required();
  sub->add_option("--baseline", a->baseline, "Baseline JSON: {\"metrics\": {name: {\"value\", \"abs_tol\"}}}")->required();
  sub->add_flag("--update", a->update, "Write the run's metrics as the new baseline instead of comparing");
  sub->add_flag("--all", a->all, "Print every metric, not only the ones that changed");
  sub->add_option("--abs-tol", a->abs_tol, "--update: absolute tolerance floor (a larger tolerance already in the baseline is kept)")
      ->capture_default_str();
  sub->add_option("--rel-tol", a->rel_tol, "--update: relative tolerance floor, times the metric's value")->capture_default_str();
  return {sub, [a] {
            const auto summary_path = std::filesystem::path(a->dir) / "summary.json";
            fs::require_regular_file(summary_path);
            const config::Json summary = config::load_json(summary_path);
            if (a->update) {
              config::Json previous;
              if (std::filesystem::exists(a->baseline)) previous = config::load_json(a->baseline);
              const auto baseline = eval::make_baseline(summary, previous, a->abs_tol, a->rel_tol);
              fs::write_atomic(a->baseline, baseline.dump(2) + "\n");
              std::cout << "wrote " << baseline["metrics"].size() << " metrics to " << a->baseline << '\n';
              return 0;
            }
            fs::require_regular_file(a->baseline);
            const auto report = eval::compare_with_baseline(summary, config::load_json(a->baseline), a->baseline);
            std::size_t bad = 0, added = 0;
            for (const auto& r : report.rows) {
              bad += r.status == eval::RegressRow::changed || r.status == eval::RegressRow::missing;
              added += r.status == eval::RegressRow::added;
            }
            std::cout << report.table(!a->all);
            std::cout << report.rows.size() - added << " baseline metrics: " << bad << " changed or missing"
                      << (added ? ", " + std::to_string(added) + " new (not in the baseline)" : "") << '\n';
            return report.passed() ? 0 : 1;
          }};
}

}  // namespace diffedit::cli
