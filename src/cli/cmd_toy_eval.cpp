// `diffedit toy-eval --out FILE.json`: the toy models' quality on the toy world's test split,
// against the bars of datasets/toyworld/README.md (src/eval/toy_eval.h defines every key); the edit
// bars come from an experiment (configs/toy/toy-eval.json) that the runner executes.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/config_args.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"
#include "data/toyworld_presets.h"
#include "eval/experiment.h"
#include "eval/toy_eval.h"

namespace diffedit::cli {

namespace {
struct ToyEvalArgs {
  eval::ToyEvalOptions options;
  ConfigArguments config{.file = "configs/toy/toy-eval.json"};
  std::string out, runs, models = "models", world = data::toyworld::kDefaultPreset;
};

// The flags that the model checks and the edit experiment share, as overrides of the experiment
// (before the command line's own KEY=VALUE, which win).
std::vector<std::string> shared_overrides(const ToyEvalArgs& a) {
  const auto& o = a.options;
  const std::filesystem::path models = a.models;
  const auto text = [](const config::Json& v) { return v.dump(); };
  std::vector<std::string> out = {"model=" + text((models / "toy-sd").string()),
                                  "metrics.classifier=" + text((models / "toy-classifier").string()),
                                  "guidance=" + text(o.guidance),
                                  "steps=" + text(o.steps),
                                  "seeds=" + text(config::Json::array({o.seed})),
                                  "dataset.world=" + text(data::toyworld::world_to_json(o.world)),
                                  "dataset.world_seed=" + text(o.world_seed)};
  out.insert(out.end(), a.config.overrides.begin(), a.config.overrides.end());
  return out;
}

int run(ToyEvalArgs& a) {
  auto& o = a.options;
  if (o.classifier_items < 1 || o.t2i_prompts < 1 || o.retention_items < 1) throw InputError("toy-eval", "counts must be positive");
  for (const double sigma : o.retention_sigmas)
    if (!(sigma > 0)) throw InputError("toy-eval", "--retention-sigmas must be positive (got " + std::to_string(sigma) + ")");
  o.models = a.models;
  o.world = data::toyworld::world_from_text(a.world, "--world");
  ConfigArguments experiment = a.config;
  experiment.overrides = shared_overrides(a);
  const auto resolved = resolve_config(experiment, &eval::experiment_schema());
  if (!resolved) return 0;  // --print-config
  o.experiment = *resolved;
  o.runs = !a.runs.empty()  ? std::filesystem::path(a.runs)
           : !a.out.empty() ? std::filesystem::path(a.out).replace_extension(".runs")
                            : std::filesystem::path("runs/toy-eval");
  o.quiet = log::quiet();
  config::Json result = eval::run_toy_eval(o, [](const std::string& line) { log::info(line); });
  result["git_revision"] = std::string(git_revision());
  std::cout << std::left << std::setw(44) << "key"
            << "value\n";
  for (const auto& [key, value] : result.items())
    if (!value.is_structured()) std::cout << std::setw(44) << key << value.dump() << "\n";
  if (!a.out.empty()) fs::write_atomic(a.out, result.dump(2) + "\n");
  return 0;
}
}  // namespace

Command add_toy_eval(CLI::App& app) {
  auto a = std::make_shared<ToyEvalArgs>();
  auto& o = a->options;
  CLI::App* sub = app.add_subcommand("toy-eval", "Measure the toy models' quality on the toy world's test split");
  sub->add_option("config", a->config.file, "The edit bars' experiment config")->capture_default_str();
  sub->add_option("overrides", a->config.overrides, "Overrides of the experiment KEY=VALUE (e.g. dataset.limit=64)");
  sub->add_flag("--print-config", a->config.print_config, "Print the experiment's resolved config and exit");
  sub->add_option("--out", a->out, "Write the results as JSON");
  sub->add_option("--runs", a->runs, "The experiment's results directory (resumable; default: OUT with .runs, else runs/toy-eval)");
  sub->add_option("--models", a->models, "Directory holding toy-classifier/, toy-sd/, toy-clip/")->capture_default_str();
  sub->add_option("--count", o.classifier_items, "Test items for the classifier accuracy")->capture_default_str();
  sub->add_option("--prompts", o.t2i_prompts, "Class prompts for the text-to-image agreement")->capture_default_str();
  sub->add_option("--retention-items", o.retention_items, "Test images per noise level of the shape-retention diagnostic")
      ->capture_default_str();
  sub->add_option("--retention-sigmas", o.retention_sigmas, "Noise levels sigma of the shape-retention diagnostic")->capture_default_str();
  sub->add_option("--strength", o.strength, "The DiffEdit encoding ratio r of the main keys")->capture_default_str();
  sub->add_option("--guidance", o.guidance, "Classifier-free guidance scale (text-to-image and the edits)")->capture_default_str();
  sub->add_option("--steps", o.steps, "DDIM steps (text-to-image and the edits)")->capture_default_str();
  sub->add_option("--world", a->world, "Toy world: a preset (basic, full) or a JSON object {\"preset\": ..., changes}")
      ->capture_default_str();
  sub->add_option("--world-seed", o.world_seed, "World seed")->capture_default_str();
  sub->add_option("--seed", o.seed, "Noise seed (the experiment's seeds: [seed])")->capture_default_str();
  return {sub, [a] { return run(*a); }};
}

}  // namespace diffedit::cli
