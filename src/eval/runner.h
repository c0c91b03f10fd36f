// `diffedit run`: executes an experiment into a results directory. Every finished (item, method,
// parameters, seed) becomes a record at once (eval/record_store.h); re-running the same command
// resumes (nothing finished is redone) and ends with the same summary as an uninterrupted run.
// A different config on an existing directory is refused unless `force_new`.
#pragma once

#include <filesystem>

#include "core/config.h"
#include "eval/experiment.h"

namespace diffedit::eval {

struct RunOptions {
  std::filesystem::path out;
  std::int64_t shard_index = 0, shard_count = 1;  // items with index % count == index
  bool force_new = false;
  std::filesystem::path cache_dir;  // feature cache; empty: none
  bool quiet = false;
};

// Runs (or resumes) and writes DIR/summary.json; returns the summary.
config::Json run_experiment(const Experiment& experiment, const RunOptions& options);

// Writes DIR/config.json, refusing a different one already there (unless `force_new`, which clears
// the directory's results first). FileError when DIR cannot be written.
void claim_directory(const std::filesystem::path& dir, const config::Json& resolved, bool force_new);

// Recomputes DIR/summary.json from the records in DIR.
config::Json write_summary(const Experiment& experiment, const std::filesystem::path& dir, const std::filesystem::path& cache_dir);

}  // namespace diffedit::eval
