// `diffedit launch CONFIG [KEY=VALUE...] --slurm --shards n --out DIR [--partition P --time T
// --gpus-per-task g]`: submits the experiment as a Slurm job array plus a dependent merge job
// (eval/slurm.h).
#include <iostream>

#include "cli/cache_args.h"
#include "cli/commands.h"
#include "cli/config_args.h"
#include "core/errors.h"
#include "eval/experiment.h"
#include "eval/slurm.h"

namespace diffedit::cli {

Command add_launch(CLI::App& app) {
  struct Args {
    ConfigArguments config;
    eval::SlurmOptions slurm;
    std::string out;
    CacheArgs cache;
    bool use_slurm = false, dry_run = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("launch", "Submit an experiment to Slurm: a job array of shards and a dependent merge job");
  add_config_arguments(*sub, a->config);
  sub->add_flag("--slurm", a->use_slurm, "Use Slurm (sbatch) — the one engine supported")->required();
  sub->add_option("--shards", a->slurm.shards, "Number of shards (array tasks)")->check(CLI::Range(1, 100000))->required();
  sub->add_option("--out", a->out, "Results directory (shards in OUT/shards/i, merged results in OUT)")->required();
  sub->add_option("--partition", a->slurm.partition, "Slurm partition");
  sub->add_option("--time", a->slurm.time, "Time limit per task (Slurm syntax, e.g. 2:00:00)");
  sub->add_option("--gpus-per-task", a->slurm.gpus_per_task, "GPUs per task")->check(CLI::Range(0, 64));
  sub->add_option("--cpus-per-task", a->slurm.cpus_per_task, "CPUs per task")->check(CLI::Range(0, 1024));
  sub->add_option("--sbatch-extra", a->slurm.extra_sbatch, "One more #SBATCH line's options, e.g. \"--account=abc\"");
  add_cache_options(*sub, a->cache);
  sub->add_flag("--dry-run", a->dry_run, "Write the batch scripts (OUT/slurm/) without submitting");
  sub->add_flag("--wait", a->slurm.wait, "Wait until the merge job has ended");
  return {sub, [a] {
            const auto config = resolve_config(a->config, &eval::experiment_schema());
            if (!config) return 0;
            eval::make_experiment(*config, a->config.file);  // every config error before anything is submitted
            a->slurm.out = a->out;
            a->slurm.submit = !a->dry_run;
            a->slurm.cache_dir = a->cache.dir();
            const auto l = eval::launch_slurm(*config, a->slurm);
            std::cout << "array " << (l.array_job.empty() ? "(not submitted)" : l.array_job) << ": " << l.array_script.string() << '\n'
                      << "merge " << (l.merge_job.empty() ? "(not submitted)" : l.merge_job) << ": " << l.merge_script.string() << '\n';
            return 0;
          }};
}

}  // namespace diffedit::cli
