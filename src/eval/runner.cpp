#include "eval/runner.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "core/device.h"
#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/resources.h"
#include "core/rng.h"
#include "core/version.h"
#include "data/datasets.h"
#include "editing/shared_edits.h"
#include "eval/edit_request.h"
#include "eval/features.h"
#include "eval/metric_networks.h"
#include "eval/record_store.h"
#include "eval/summary.h"
#include "image/io.h"
#include "pipelines/txt2img.h"

namespace diffedit::eval {

using config::Json;

namespace {

// toy-generated draws its inputs with the experiment's model.
std::unique_ptr<data::EditDataset> open_dataset(const DatasetSpec& d, pipelines::StableDiffusion& sd, std::int64_t steps, double guidance) {
  data::ImageGenerator generator;
  if (d.name == "toy-generated")
    generator = [&sd, steps, guidance](const std::string& prompt, std::uint64_t seed) {
      pipelines::Txt2ImgRequest common;
      common.steps = steps;
      common.guidance = guidance;
      return pipelines::txt2img_batch(sd, {prompt}, {seed}, common).front().image;  // [3, H, W]
    };
  return data::make_dataset(d, generator);
}

}  // namespace

void claim_directory(const std::filesystem::path& dir, const Json& resolved, bool force_new) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(dir.string(), "cannot create the results directory: " + ec.message());
  const auto path = dir / "config.json";
  if (std::filesystem::exists(path)) {
    Json existing;
    try {
      existing = load_run_config(path);
    } catch (const ConfigError&) {  // a config that no longer validates is a different one
      existing = config::load_json(path);
    }
    if (existing != resolved) {
      if (!force_new)
        throw ConfigError(dir.string(),
                          "holds results of a different config (" + path.string() + "); use another --out, or --force-new to discard them");
      for (const char* sub : {"records", "images", "report"}) std::filesystem::remove_all(dir / sub);
      std::filesystem::remove(dir / "summary.json");
    }
  }
  try {
    fs::write_atomic(path, resolved.dump(2) + "\n");
  } catch (const Error& e) {
    throw FileError(dir.string(), "not writable: " + e.problem());
  }
}

Json write_summary(const Experiment& e, const std::filesystem::path& dir, const std::filesystem::path& cache_dir) {
  RecordStore store(dir);
  store.load();
  Json summary = summarize(e, store.records(), reference_set(e, cache_dir));
  summary["git_revision"] = std::string(git_revision());
  fs::write_atomic(dir / "summary.json", summary.dump(2) + "\n");
  return summary;
}

namespace {

// A finished edit as its record: the metrics, the features for the set metrics, the images (written
// first, so that a record that exists is complete), the cost and what it shared. NumericError when
// the edited image is not finite.
Json result_record(Json record, const std::string& label, const data::EditSample& sample, const editing::EditResult& result,
                   MetricNetworks& models, const std::filesystem::path& out) {
  const at::Tensor edited = result.image.to(at::kCPU, at::kFloat);
  if (!at::isfinite(edited).all().item<bool>()) throw NumericError(label, "the edited image is not finite");
  record["metrics"] = models.measure(sample, result, edited);
  if (models.features) {
    torch::NoGradGuard no_grad;
    const at::Tensor f = models.features->extract(edited)[0].to(at::kDouble);
    record["features"] = std::vector<double>(f.data_ptr<double>(), f.data_ptr<double>() + f.numel());
  }
  const std::string stem = "images/" + record["key"].get<std::string>();
  std::filesystem::create_directories(out / "images");
  image::write(out / (stem + ".png"), edited[0]);
  record["image"] = stem + ".png";
  if (result.mask.defined()) {
    image::write(out / (stem + ".mask.png"), result.mask.to(at::kCPU, at::kFloat)[0]);
    record["mask"] = stem + ".mask.png";
  }
  record["denoiser_evaluations"] = result.denoiser_evaluations;
  Json shared = Json::array();
  for (const auto& st : result.shared) shared.push_back({{"key", st.key}, {"evaluations", st.evaluations}});
  record["shared"] = shared;
  record["seconds"] = result.seconds;
  if (!result.details.is_null()) record["details"] = result.details;
  record["status"] = "ok";
  return record;
}

// What one invocation's items share: the store, the models, the progress and the counts.
struct RunContext {
  const Experiment& e;
  const RunOptions& o;
  RecordStore& store;
  pipelines::StableDiffusion& sd;
  MetricNetworks& models;
  Progress& progress;
  std::int64_t computed = 0, failed = 0;
};

// flexit_accuracy's benchmark: the dataset's target classes over the items run, sorted.
std::vector<std::int64_t> target_classes(const data::EditDataset& dataset, std::int64_t limit) {
  std::set<std::int64_t> classes;
  for (std::int64_t i = 0; i < limit; ++i) classes.insert(dataset.get(i).target_label);
  classes.erase(-1);
  return {classes.begin(), classes.end()};
}

// The records of (item, seed) that the store lacks, computed together through the shared stages
// and stored as each finishes. Non-finite values fail the item's remaining settings (recorded,
// reported in the summary, never averaged) and the sweep goes on with other items; other errors
// (files, configs) propagate: nothing is recorded as failed that a re-run could complete.
void run_item(RunContext& c, const data::EditDataset& dataset, std::int64_t index, std::uint64_t seed) {
  const auto& settings_all = c.e.settings;
  const std::string item = item_key(c.e.dataset, index);
  std::vector<std::size_t> missing;
  std::vector<std::string> keys;
  for (std::size_t s = 0; s < settings_all.size(); ++s) {
    keys.push_back(record_key(item, settings_all[s].method, settings_all[s].parameters, seed));
    if (c.store.contains(keys.back()))
      c.progress.advance();
    else
      missing.push_back(s);
  }
  if (missing.empty()) return;
  const data::EditSample sample = dataset.get(index);
  const editing::EditRequest request = request_for(sample, rng::derive_seed(seed, item));
  std::vector<editing::Setting> settings;
  for (const std::size_t s : missing) settings.push_back(settings_all[s].setting());

  auto base_record = [&](std::size_t s) {
    const auto& st = settings_all[s];
    return Json{{"key", keys[s]},
                {"item", item},
                {"item_index", index},
                {"seed", seed},
                {"method", st.method},
                {"label", st.label},
                {"setting", st.name},
                {"parameters", st.parameters},
                {"query", sample.query},
                {"reference", sample.reference},
                {"target_label", sample.target_label},
                {"world", sample.world.empty() ? Json(nullptr) : Json(sample.world)},
                {"device", c.e.device},
                {"dtype", c.e.dtype}};
  };
  std::vector<bool> written(missing.size(), false);
  try {
    editing::edit_shared(
        c.sd, request, settings,
        [&](std::size_t j, editing::EditResult&& result) {
          const std::size_t s = missing[j];
          c.store.put(result_record(base_record(s), settings_all[s].label, sample, result, c.models, c.o.out));
          written[j] = true;
          ++c.computed;
          c.progress.advance();
        },
        c.e.decode_batch);
  } catch (const NumericError& err) {
    log::warn(item, " seed ", seed, ": ", err.what());
    for (std::size_t j = 0; j < missing.size(); ++j) {
      if (written[j]) continue;
      Json record = base_record(missing[j]);
      record["status"] = "failed";
      record["error"] = err.what();
      record["shared"] = Json::array();
      record["denoiser_evaluations"] = 0;
      c.store.put(record);
      ++c.failed;
      c.progress.advance();
    }
  }
}

}  // namespace

Json run_experiment(const Experiment& e, const RunOptions& o) {
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count) throw InputError("--shard", "must be i/n with 0 <= i < n");
  claim_directory(o.out, e.resolved, o.force_new);
  RecordStore store(o.out);
  store.remove_interrupted_writes();
  store.load();

  const auto start = std::chrono::steady_clock::now();
  pipelines::LoadOptions load;
  load.device = parse_device(e.device, "device");
  load.dtype = pipelines::parse_dtype(e.dtype);
  auto sd = pipelines::StableDiffusion::load(e.model, load);
  MetricNetworks models(e.metrics);
  const std::int64_t steps = e.resolved["steps"];
  const auto dataset = open_dataset(e.dataset, sd, steps, e.resolved["guidance"].get<double>());
  if (dataset->size() < e.dataset.limit)
    throw InputError("dataset.limit",
                     std::to_string(e.dataset.limit) + " items asked, " + e.dataset.name + " has " + std::to_string(dataset->size()));
  if (e.metrics.wants("flexit_accuracy")) models.benchmark_classes = target_classes(*dataset, e.dataset.limit);

  std::vector<std::int64_t> items;
  for (std::int64_t i = o.shard_index; i < e.dataset.limit; i += o.shard_count) items.push_back(i);
  const std::int64_t planned = static_cast<std::int64_t>(items.size() * e.seeds.size() * e.settings.size());
  Progress progress("run " + e.name, planned, o.quiet ? Progress::Style::silent : Progress::Style::automatic);
  const std::int64_t evaluations_before = sd.denoiser.evaluations();
  RunContext context{e, o, store, sd, models, progress};
  for (const std::int64_t index : items)
    for (const std::uint64_t seed : e.seeds) run_item(context, *dataset, index, seed);
  progress.finish();

  Json summary = write_summary(e, o.out, o.cache_dir);
  summary["this_invocation"] = {{"records_computed", context.computed},
                                {"records_failed", context.failed},
                                {"denoiser_evaluations", sd.denoiser.evaluations() - evaluations_before},
                                {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
                                {"shard", std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count)},
                                {"device", e.device},
                                {"dtype", e.dtype},
                                {"threads", at::get_num_threads()},
                                {"threads_choice", resources::threads_choice()}};
  fs::write_atomic(o.out / "summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace diffedit::eval
