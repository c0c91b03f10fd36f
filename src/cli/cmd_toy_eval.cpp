// `diffedit toy-eval --out FILE.json`: the toy models' quality on the toy world's test split,
// against the bars of datasets/toyworld/README.md (eval/toy_eval.h defines every key).
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/version.h"
#include "data/toyworld_presets.h"
#include "eval/toy_eval.h"

namespace diffedit::cli {

namespace {
struct ToyEvalArgs {
  eval::ToyEvalOptions options;
  std::string out, models = "models", world = data::toyworld::kDefaultPreset;
};

int run(ToyEvalArgs& a) {
  auto& o = a.options;
  if (o.classifier_items < 1 || o.t2i_prompts < 1 || o.edits < 1 || o.sweep_edits < 1 || o.retention_items < 1)
    throw InputError("toy-eval", "counts must be positive");
  for (const double sigma : o.retention_sigmas)
    if (!(sigma > 0)) throw InputError("toy-eval", "--retention-sigmas must be positive (got " + std::to_string(sigma) + ")");
  o.models = a.models;
  o.world = data::toyworld::world_from_text(a.world, "--world");
  config::Json result = eval::run_toy_eval(o, [](const std::string& line) { log::info(line); });
  result["git_revision"] = std::string(git_revision());
  std::cout << std::left << std::setw(44) << "key" << "value\n";
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
  sub->add_option("--out", a->out, "Write the results as JSON");
  sub->add_option("--models", a->models, "Directory holding toy-classifier/, toy-sd/, toy-clip/")->capture_default_str();
  sub->add_option("--count", o.classifier_items, "Test items for the classifier accuracy")->capture_default_str();
  sub->add_option("--prompts", o.t2i_prompts, "Class prompts for the text-to-image agreement")->capture_default_str();
  sub->add_option("--edits", o.edits, "DiffEdit class edits")->capture_default_str();
  sub->add_option("--sweep-edits", o.sweep_edits, "Edits per point of the DiffEdit vs SDEdit sweep")->capture_default_str();
  sub->add_option("--sweep-strengths", o.sweep_strengths, "Encoding ratios r of the sweep")->capture_default_str();
  sub->add_option("--retention-items", o.retention_items, "Test images per noise level of the shape-retention diagnostic")
      ->capture_default_str();
  sub->add_option("--retention-sigmas", o.retention_sigmas, "Noise levels sigma of the shape-retention diagnostic")->capture_default_str();
  sub->add_option("--strength", o.strength, "DiffEdit's encoding ratio r for the main keys")->capture_default_str();
  sub->add_option("--threshold", o.threshold, "DiffEdit's mask threshold")->capture_default_str();
  sub->add_option("--guidance", o.guidance, "Classifier-free guidance scale")->capture_default_str();
  sub->add_option("--steps", o.steps, "DDIM steps")->capture_default_str();
  sub->add_option("--world", a->world, "Toy world: a preset (basic, full) or a JSON object {\"preset\": ..., changes}")
      ->capture_default_str();
  sub->add_option("--world-seed", o.world_seed, "World seed")->capture_default_str();
  sub->add_option("--seed", o.seed, "Noise seed")->capture_default_str();
  return {sub, [a] { return run(*a); }};
}

}  // namespace diffedit::cli
