// `diffedit launch CONFIG --slurm --shards n --out DIR`: a Slurm job array with one task per shard
// (`diffedit run ... --shard i/n` into DIR/shards/i) and a merge job that depends on it
// (`diffedit merge` into DIR). Slurm is the scheduler: this only writes the batch scripts
// (DIR/slurm/) and calls sbatch. Re-launching the same command resumes every shard.
#pragma once

#include <filesystem>
#include <string>

#include "core/config.h"

namespace diffedit::eval {

struct SlurmOptions {
  std::filesystem::path out;
  std::int64_t shards = 1;
  std::string partition, time, extra_sbatch;  // empty: Slurm's defaults
  std::int64_t gpus_per_task = 0, cpus_per_task = 0;
  std::filesystem::path cache_dir;  // passed to every task (empty: --no-cache)
  bool submit = true;               // false: write the scripts only
  bool wait = false;                // block until the merge job has ended
};

struct SlurmLaunch {
  std::string array_job, merge_job;  // job ids (empty when not submitted)
  std::filesystem::path array_script, merge_script;
};

SlurmLaunch launch_slurm(const config::Json& resolved, const SlurmOptions& options);

}  // namespace diffedit::eval
