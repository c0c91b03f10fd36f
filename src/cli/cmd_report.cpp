// `diffedit report DIR`: tables (md, csv, tex), trade-off plots and an HTML page with image grids,
// in DIR/report/ (eval/report.h).
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "eval/report.h"

namespace diffedit::cli {

Command add_report(CLI::App& app) {
  struct Args {
    std::string dir, plot_script;
    std::int64_t items = 8;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("report", "Write DIR/report/: tables, trade-off plots, index.html with image grids");
  sub->add_option("dir", a->dir, "Results directory of `diffedit run` or `merge`")->required();
  sub->add_option("--items", a->items, "Items shown in the image grids")->check(CLI::Range(0, 100000))->capture_default_str();
  sub->add_option("--plot-script", a->plot_script,
                  "Plotting script (default: the source tree's scripts/plot_tradeoffs.py, or $DIFFEDIT_PLOT_SCRIPT)");
  return {sub, [a] {
            std::filesystem::path script = a->plot_script;
            if (script.empty()) {
              const char* env = std::getenv("DIFFEDIT_PLOT_SCRIPT");
              script =
                  env && *env ? std::filesystem::path(env) : std::filesystem::path(DIFFEDIT_SOURCE_DIR) / "scripts" / "plot_tradeoffs.py";
            }
            const auto files = eval::write_report(a->dir, script, a->items);
            std::cout << (files.dir / "index.html").string() << '\n';
            return 0;
          }};
}

}  // namespace diffedit::cli
