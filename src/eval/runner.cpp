#include "eval/runner.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
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

// The settings of one (item, seed) that the store lacks, ready to edit.
struct ItemWork {
  std::int64_t index = 0;
  std::uint64_t seed = 0;
  std::string item;
  std::vector<std::size_t> missing;  // indices into the experiment's settings
  std::vector<std::string> keys;     // per experiment setting
  data::EditSample sample;
  editing::EditRequest request;
  std::vector<editing::Setting> settings;  // per missing setting
  std::vector<bool> written;               // per missing setting
};

// nullopt when every record of (item, seed) is stored (each counted as progress).
std::optional<ItemWork> item_work(RunContext& c, const data::EditDataset& dataset, std::int64_t index, std::uint64_t seed) {
  const auto& settings_all = c.e.settings;
  ItemWork w;
  w.index = index;
  w.seed = seed;
  w.item = item_key(c.e.dataset, index);
  for (std::size_t s = 0; s < settings_all.size(); ++s) {
    w.keys.push_back(record_key(w.item, settings_all[s].method, settings_all[s].parameters, seed));
    if (c.store.contains(w.keys.back()))
      c.progress.advance();
    else
      w.missing.push_back(s);
  }
  if (w.missing.empty()) return std::nullopt;
  w.sample = dataset.get(index);
  w.request = request_for(w.sample, rng::derive_seed(seed, w.item));
  for (const std::size_t s : w.missing) w.settings.push_back(settings_all[s].setting());
  w.written.assign(w.missing.size(), false);
  return w;
}

Json base_record(const RunContext& c, const ItemWork& w, std::size_t s) {
  const auto& st = c.e.settings[s];
  return Json{{"key", w.keys[s]},
              {"item", w.item},
              {"item_index", w.index},
              {"item_id", w.sample.id},
              {"seed", w.seed},
              {"method", st.method},
              {"label", st.label},
              {"setting", st.name},
              {"parameters", st.parameters},
              {"query", w.sample.query},
              {"reference", w.sample.reference},
              {"target_label", w.sample.target_label},
              {"world", w.sample.world.empty() ? Json(nullptr) : Json(w.sample.world)},
              {"category", w.sample.category.empty() ? Json(nullptr) : Json(w.sample.category)},
              {"device", c.e.device},
              {"dtype", c.e.dtype}};
}

void store_result(RunContext& c, ItemWork& w, std::size_t j, const editing::EditResult& result) {
  const std::size_t s = w.missing[j];
  c.store.put(result_record(base_record(c, w, s), c.e.settings[s].label, w.sample, result, c.models, c.o.out));
  w.written[j] = true;
  ++c.computed;
  c.progress.advance();
}

// Computes an item's missing records together through the shared stages, storing each as it
// finishes. Non-finite values fail the item's remaining settings (recorded, reported in the
// summary, never averaged) and the sweep goes on with other items; other errors (files, configs)
// propagate: nothing is recorded as failed that a re-run could complete.
void run_item(RunContext& c, ItemWork& w) {
  try {
    editing::edit_shared(
        c.sd, w.request, w.settings, [&](std::size_t j, editing::EditResult&& result) { store_result(c, w, j, result); }, c.e.decode_batch);
  } catch (const NumericError& err) {
    log::warn(w.item, " seed ", w.seed, ": ", err.what());
    for (std::size_t j = 0; j < w.missing.size(); ++j) {
      if (w.written[j]) continue;
      Json record = base_record(c, w, w.missing[j]);
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

// The items of a batch (batch_items): their DiffEdit-family decodings pooled. A non-finite value
// in a pooled call cannot be told apart by item, so the batch's unfinished items then run one by
// one, and only the item that fails alone is recorded as failed.
void run_batch(RunContext& c, std::vector<ItemWork>& batch) {
  if (batch.size() == 1) return run_item(c, batch.front());
  std::vector<editing::ItemSettings> items;
  for (const ItemWork& w : batch) items.push_back({&w.request, w.settings});
  try {
    editing::edit_shared_items(
        c.sd, items, [&](std::size_t b, std::size_t j, editing::EditResult&& result) { store_result(c, batch[b], j, result); },
        c.e.decode_batch);
  } catch (const NumericError& err) {
    log::warn("a batch of ", batch.size(), " items: ", err.what(), "; running its unfinished items one by one");
    for (ItemWork& w : batch) {
      ItemWork rest = w;
      rest.missing.clear();
      rest.settings.clear();
      for (std::size_t j = 0; j < w.missing.size(); ++j)
        if (!w.written[j]) {
          rest.missing.push_back(w.missing[j]);
          rest.settings.push_back(w.settings[j]);
        }
      rest.written.assign(rest.missing.size(), false);
      if (!rest.missing.empty()) run_item(c, rest);
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
  MetricNetworks models(e.metrics, load.device);
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
  std::vector<ItemWork> batch;
  for (const std::int64_t index : items)
    for (const std::uint64_t seed : e.seeds) {
      if (auto work = item_work(context, *dataset, index, seed)) batch.push_back(std::move(*work));
      if (static_cast<std::int64_t>(batch.size()) == e.batch_items) {
        run_batch(context, batch);
        batch.clear();
      }
    }
  if (!batch.empty()) run_batch(context, batch);
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
