// `diffedit report DIR`: DIR/report/ with the tables (tables.md, tables.csv, tables.tex: one row per
// method and setting, one column per metric, as the paper lays them out), trade-off plots (PNG and
// PDF, drawn by scripts/plot_tradeoffs.py with Debian's python3-matplotlib), the paper's findings
// checked on the run (claims.md, claims.json and a "Claims" section; eval/claims.h) and
// index.html: the tables, the claims, the plots and image grids (input | ground truth | mask |
// edits across r, per method) that a browser shows directly from the files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::eval {

struct ReportFiles {
  std::filesystem::path dir;
  std::vector<std::filesystem::path> written;
  bool plots = false;  // false when matplotlib was not available (a warning says so)
};

ReportFiles write_report(const std::filesystem::path& run_dir, const std::filesystem::path& plot_script, std::int64_t max_items = 8);

}  // namespace diffedit::eval
