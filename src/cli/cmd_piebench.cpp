// `diffedit piebench score --data DIR --method NAME=FOLDER ... --out result.csv`: PIE-Bench's
// evaluate.py (eval/piebench_eval.h), its CSV character for character; only the networks the
// metrics need are loaded.
// `diffedit piebench export --dataset toy-coco --limit N --out DIR`: a dataset with true regions
// in PIE-Bench's layout (data/piebench_write.h).
// `diffedit piebench csv RUN_DIR --out result.csv`: a run's records as evaluate.py's CSV.
#include <iostream>

#include "cli/commands.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/fs.h"
#include "data/datasets.h"
#include "data/piebench_write.h"
#include "eval/piebench_eval.h"
#include "models/dino_vit.h"
#include "pipelines/clip_model.h"

namespace diffedit::cli {

namespace {

struct Args {
  // score
  std::string data, mapping, lpips, clip, dino, device = "cpu", out;
  std::vector<std::string> methods, metrics, categories;
  bool missing_as_nan = false;
  // export
  std::string dataset, split = "test", type_id = "1";
  std::int64_t limit = 0;
  std::uint64_t world_seed = 0;
  // csv
  std::string run_dir;
};

// "NAME=FOLDER", split at the first '=' (folders may hold one, method names may not).
eval::PieBenchMethod parse_method(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw InputError("--method", "'" + text + "' is not NAME=FOLDER (e.g. 1_ddim+p2p=output/ddim+p2p/annotation_images)");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

// The networks the metrics need, each from its option; InputError naming the option when absent.
metrics::PieBenchNetworks load_networks(const Args& a, const std::vector<std::string>& metric_names) {
  const auto needs = eval::piebench_network_needs(metric_names);
  const auto require = [](const std::string& value, const char* option, const char* what) {
    if (value.empty()) throw InputError(option, std::string("the metrics asked for need ") + what + "; give " + option);
  };
  const c10::Device device = parse_device(a.device);
  metrics::PieBenchNetworks n;
  if (needs.lpips) {
    require(a.lpips, "--lpips", "LPIPS squeeze weights (.safetensors: scripts/convert_weights.py lpips --net squeeze)");
    n.lpips = metrics::PerceptualDistance::load("lpips-squeeze", a.lpips, "--lpips");
    n.lpips->to(device);
  }
  if (needs.clip) {
    require(a.clip, "--clip", "a CLIP model directory (PIE-Bench: openai/clip-vit-large-patch14)");
    n.clip = std::make_shared<pipelines::ClipModel>(pipelines::ClipModel::load(a.clip));
    n.clip->to(device);
  }
  if (needs.dino) {
    require(a.dino, "--dino", "a DINO model directory (PIE-Bench: dino_vitb8; scripts/convert_weights.py dino)");
    models::DinoVit dino = models::load_dino_vit(a.dino);
    dino->to(device);
    n.structure_distance = eval::piebench_structure_distance(dino);
  }
  return n;
}

int run_score(const Args& a) {
  eval::PieBenchEvalOptions o;
  o.data_root = a.data;
  o.mapping_file = a.mapping;
  for (const auto& m : a.methods) o.methods.push_back(parse_method(m));
  o.metrics = eval::resolve_piebench_metrics(a.metrics);
  o.edit_categories = a.categories;
  o.missing_target_as_nan = a.missing_as_nan;
  const metrics::PieBenchNetworks networks = load_networks(a, o.metrics);
  // Streamed into a temporary file renamed at the end: an interrupted run leaves no partial CSV.
  fs::write_atomic(a.out, [&](std::ostream& out) { eval::evaluate_piebench(o, networks, out); });
  std::cout << a.out << '\n';
  return 0;
}

int run_export(const Args& a) {
  data::DatasetOptions d;
  d.name = a.dataset;
  d.split = a.split;
  d.limit = a.limit;
  d.world_seed = a.world_seed;
  if (data::is_toy_dataset(a.dataset) && a.limit <= 0) throw InputError("--limit", "a toy dataset has no fixed size: give --limit N");
  const auto dataset = data::make_dataset(d);
  data::write_piebench(*dataset, a.out, {.default_type_id = a.type_id});
  std::cout << "wrote " << dataset->size() << " items to " << a.out << '\n';
  return 0;
}

int run_csv(const Args& a) {
  fs::write_atomic(a.out, eval::piebench_csv_of_run(a.run_dir, a.metrics));
  std::cout << a.out << '\n';
  return 0;
}

}  // namespace

Command add_piebench(CLI::App& app) {
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("piebench", "PIE-Bench interop: its evaluate.py CSV from images or a run; exports in its layout");
  sub->require_subcommand(1);

  CLI::App* score = sub->add_subcommand("score", "Score methods' outputs as PIE-Bench's evaluate.py does, into its CSV");
  score->add_option("--data", a->data, "PIE-Bench data folder: mapping_file.json and annotation_images/")->required();
  score->add_option("--mapping", a->mapping, "Another mapping file (default: DATA/mapping_file.json)");
  score
      ->add_option("--method", a->methods,
                   "NAME=FOLDER, repeatable: the column prefix and the folder holding the method's outputs at the items' image_path")
      ->required();
  std::string names;
  for (const auto& spec : metrics::kPieBenchMetrics) names += std::string(names.empty() ? "" : ", ") + std::string(spec.name);
  score->add_option("--metrics", a->metrics, "Comma-separated, of: " + names + " (default: evaluate.py's default list)")->delimiter(',');
  score->add_option("--categories", a->categories, "editing_type_ids to score, comma-separated (default: 0..9)")->delimiter(',');
  score->add_option("--lpips", a->lpips, "LPIPS squeeze weights (.safetensors), for the lpips* metrics");
  score->add_option("--clip", a->clip, "CLIP model directory, for the clip_similarity* metrics");
  score->add_option("--dino", a->dino, "DINO ViT directory, for the structure_distance* metrics");
  score->add_option("--device", a->device, "cpu or cuda[:N], for the networks")->capture_default_str();
  score->add_flag("--missing-as-nan", a->missing_as_nan,
                  "A method without an item's image gets nan cells (default: an error naming the file, where evaluate.py crashes)");
  score->add_option("--out", a->out, "CSV to write")->required();

  CLI::App* exp = sub->add_subcommand("export", "Write a dataset with true edit regions in PIE-Bench's layout");
  exp->add_option("--dataset", a->dataset, "Dataset name (toy-coco, toy-imagenet, ...)")->required();
  exp->add_option("--split", a->split, "Split")->capture_default_str();
  exp->add_option("--limit", a->limit, "Items (the first N; required for toy datasets)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40));
  exp->add_option("--world-seed", a->world_seed, "Toy world seed")->capture_default_str();
  exp->add_option("--type-id", a->type_id, "editing_type_id of items whose category is not a PIE-Bench type")->capture_default_str();
  exp->add_option("--out", a->out, "Output folder (mapping_file.json, annotation_images/)")->required();

  CLI::App* csv = sub->add_subcommand("csv", "A run's records (metric piebench (and piebench_extra)) as evaluate.py's CSV");
  csv->add_option("run_dir", a->run_dir, "Results directory of `diffedit run`")->required();
  csv->add_option("--metrics", a->metrics, "Comma-separated evaluate.py metric names (default: every one the records hold)")
      ->delimiter(',');
  csv->add_option("--out", a->out, "CSV to write")->required();

  return {sub, [a, score, exp] {
            if (score->parsed()) return run_score(*a);
            if (exp->parsed()) return run_export(*a);
            return run_csv(*a);
          }};
}

}  // namespace diffedit::cli
