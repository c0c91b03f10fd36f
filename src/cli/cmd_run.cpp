// `diffedit run CONFIG [KEY=VALUE...] --out DIR [--shard i/n]`: runs (or resumes) an experiment.
// `diffedit merge DIR... --out DIR`: pools the records of shards and recomputes the summary.
#include <iostream>

#include "cli/cache_args.h"
#include "cli/commands.h"
#include "cli/config_args.h"
#include "core/errors.h"
#include "core/log.h"
#include "eval/experiment.h"
#include "eval/features.h"
#include "eval/merge.h"
#include "eval/runner.h"
#include "eval/summary.h"

namespace diffedit::cli {

namespace {

void print_headline(const config::Json& s) {
  std::cout << "records " << s["records"]["present"] << "/" << s["records"]["planned"] << " (failed " << s["records"]["failed"]
            << "), denoiser evaluations " << s["denoiser_evaluations"] << " (if independent " << s["denoiser_evaluations_if_independent"]
            << ", ratio " << s["sharing_ratio"] << ")\n";
}

}  // namespace

Command add_run(CLI::App& app) {
  struct Args {
    ConfigArguments config;
    std::string out, shard = "0/1";
    bool force_new = false, dry_run = false;
    std::string device, dtype;
    CacheArgs cache;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("run", "Run or resume an experiment (configs/quickstart.json, configs/toy/, configs/paper/)");
  add_config_arguments(*sub, a->config);
  sub->add_option("--out", a->out, "Results directory (records/, images/, summary.json)")->required();
  sub->add_option("--shard", a->shard, "Run items with index % n == i (i/n)")->capture_default_str();
  sub->add_flag("--force-new", a->force_new, "Discard results of a different config in --out");
  sub->add_option("--device", a->device, "Where the model computes: cpu or cuda[:N] (the config's `device`)");
  sub->add_option("--dtype", a->dtype, "float32, float16 (CUDA) or bfloat16 (the config's `dtype`)");
  sub->add_flag("--dry-run", a->dry_run, "Print the plan (settings, records, metrics and what each needs) as JSON; run nothing");
  add_cache_options(*sub, a->cache);
  return {sub, [a, &app] {
            ConfigArguments arguments = a->config;  // --device and --dtype are overrides of the config
            if (!a->device.empty()) arguments.overrides.push_back("device=" + a->device);
            if (!a->dtype.empty()) arguments.overrides.push_back("dtype=" + a->dtype);
            const auto config = resolve_config(arguments, &eval::experiment_schema());
            if (!config) return 0;
            const auto experiment = eval::make_experiment(*config, a->config.file);
            if (a->dry_run) {
              std::cout << eval::plan_json(experiment).dump(2) << '\n';
              return 0;
            }
            eval::RunOptions o;
            o.out = a->out;
            o.force_new = a->force_new;
            o.cache_dir = a->cache.dir();
            o.quiet = app.get_option("--quiet")->as<bool>();
            const auto slash = a->shard.find('/');
            try {
              if (slash == std::string::npos) throw std::invalid_argument("no slash");
              o.shard_index = std::stoll(a->shard.substr(0, slash));
              o.shard_count = std::stoll(a->shard.substr(slash + 1));
            } catch (const std::exception&) {
              throw InputError("--shard", "expected i/n, e.g. 0/4 (got '" + a->shard + "')");
            }
            const auto summary = eval::run_experiment(experiment, o);
            print_headline(summary);
            std::cout << (std::filesystem::path(a->out) / "summary.json").string() << '\n';
            return summary["records"]["failed"].get<std::int64_t>() > 0 ? 1 : 0;
          }};
}

Command add_merge(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::string out;
    CacheArgs cache;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("merge", "Pool the records of shard directories (same config) and recompute the summary");
  sub->add_option("dirs", a->dirs, "Shard result directories")->required();
  sub->add_option("--out", a->out, "Merged results directory")->required();
  add_cache_options(*sub, a->cache);
  return {sub, [a] {
            const std::vector<std::filesystem::path> shards(a->dirs.begin(), a->dirs.end());
            const auto experiment = eval::merge_shards(shards, a->out);
            const auto summary = eval::write_summary(experiment, a->out, a->cache.dir());
            print_headline(summary);
            std::cout << (std::filesystem::path(a->out) / "summary.json").string() << '\n';
            return 0;
          }};
}

}  // namespace diffedit::cli
