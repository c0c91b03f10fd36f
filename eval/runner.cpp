#include "eval/runner.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include "core/errors.h"
#include "core/fs.h"
#include "core/image_io.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/version.h"
#include "data/datasets.h"
#include "editing/request.h"
#include "editing/shared_edits.h"
#include "eval/features.h"
#include "eval/record_store.h"
#include "eval/summary.h"
#include "metrics/clip_score.h"
#include "metrics/lpips.h"
#include "metrics/perceptual.h"
#include "metrics/resize.h"
#include "metrics/region.h"
#include "models/toy_classifier.h"
#include "pipelines/clip_model.h"
#include "pipelines/txt2img.h"

namespace diffedit::eval {

using config::Json;

namespace {

// The networks of the per-image metrics, loaded once per run.
struct MetricModels {
  explicit MetricModels(const MetricsSpec& m) : spec(m) {
    if (!m.classifier.empty()) classifier = models::load_toy_classifier(m.classifier);
    if (!m.clip_model.empty() && m.wants("clip_score"))
      clip = std::make_shared<pipelines::ClipModel>(pipelines::ClipModel::load(m.clip_model));
    if (m.wants("lpips") || m.wants("flexit_lpips")) lpips = metrics::PerceptualDistance::load(m.lpips.name, m.lpips.weights, "metrics.lpips.name");
    if (!m.set.empty()) features = make_feature_net(m.feature_net.name, m.feature_net.weights);
  }

  // Per-image metrics of one edit (edited, input: [1, 3, H, W] in [0, 1]).
  Json measure(const data::EditSample& sample, const editing::EditResult& result, const at::Tensor& edited) {
    torch::NoGradGuard no_grad;
    const at::Tensor input = sample.image.unsqueeze(0);
    Json m = Json::object();
    for (const auto& name : spec.per_image) {
      if (name == "lpips") {
        m["lpips"] = (*lpips)(edited, input).item<double>();
      } else if (name == "clip_score") {
        const double cos = metrics::paired_cosine(clip->image_embeds_any(edited[0]), clip->text_embeds({sample.query})).item<double>();
        m["clip_cosine"] = cos;
        m["clip_score"] = 2.5 * std::max(cos, 0.0);  // Hessel et al.'s CLIP-S
      } else if (name == "mask_iou" && result.mask.defined() && sample.region.defined()) {
        const at::Tensor mask = at::upsample_nearest2d(result.mask.to(at::kCPU, at::kFloat), {edited.size(2), edited.size(3)});
        m["mask_iou"] = metrics::mask_iou(mask[0][0], sample.region[0]);
      } else if (name == "edit_success" && sample.target_label >= 0) {
        const auto s = metrics::edit_success(classifier->forward(edited), at::tensor({sample.target_label}, at::kLong));
        m["edit_success"] = s.top1;
        m["target_probability"] = s.target_probability;
      } else if (name == "flexit_lpips") {
        m["flexit_lpips"] = 100.0 * (*lpips)(flexit_view(edited), flexit_view(input)).item<double>();
      } else if (name == "flexit_accuracy" && sample.target_label >= 0) {
        // FlexIT's eval.py: argmax over the benchmark's classes only; correct = target, unedited = source.
        const at::Tensor idx = at::tensor(benchmark_classes, at::kLong);
        const std::int64_t pick = benchmark_classes.at(classifier->forward(edited).index_select(1, idx).argmax(1).item<std::int64_t>());
        m["flexit_correct"] = pick == sample.target_label ? 1.0 : 0.0;
        m["flexit_unedited"] = pick == sample.source_label ? 1.0 : 0.0;
      } else if (name == "unedited_psnr" && sample.region.defined()) {
        m["unedited_mse"] = metrics::masked_mse(edited[0], sample.image, sample.region, metrics::Region::outside);
      } else if (name == "unedited_ssim" && sample.region.defined()) {
        m["unedited_ssim"] = metrics::masked_ssim(edited[0], sample.image, sample.region, metrics::Region::outside);
      } else if (name == "target_psnr" && sample.target_image.defined()) {
        m["target_mse"] = metrics::masked_mse(edited[0], sample.target_image, at::zeros_like(sample.region), metrics::Region::outside);
      }
    }
    for (const auto& [k, v] : m.items())
      if (!std::isfinite(v.get<double>())) throw NumericError(k, "the metric is not finite");
    return m;
  }

  // FlexIT's eval.py preprocessing: the image as a file holds it (uint8), torchvision's
  // Resize(n) + CenterCrop(n) with Pillow's bilinear filter, back to [0, 1].
  at::Tensor flexit_view(const at::Tensor& image) const {
    return metrics::resize_center_crop(image[0], spec.flexit_size, metrics::Filter::bilinear).unsqueeze(0);
  }

  const MetricsSpec& spec;
  std::vector<std::int64_t> benchmark_classes;  // flexit_accuracy: the dataset's target classes, sorted
  models::ToyClassifier classifier{nullptr};
  std::shared_ptr<pipelines::ClipModel> clip;
  std::optional<metrics::PerceptualDistance> lpips;
  std::optional<FeatureNet> features;
};

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
    const Json existing = config::load_json(path);
    if (existing != resolved) {
      if (!force_new)
        throw ConfigError(dir.string(), "holds results of a different config (" + path.string() +
                                             "); use another --out, or --force-new to discard them");
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
                   MetricModels& models, const std::filesystem::path& out) {
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

}  // namespace

Json run_experiment(const Experiment& e, const RunOptions& o) {
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw InputError("--shard", "must be i/n with 0 <= i < n");
  claim_directory(o.out, e.resolved, o.force_new);
  RecordStore store(o.out);
  store.remove_interrupted_writes();
  store.load();

  const auto start = std::chrono::steady_clock::now();
  auto sd = pipelines::StableDiffusion::load(e.model);
  MetricModels models(e.metrics);
  const std::int64_t steps = e.resolved["steps"];
  const auto dataset = open_dataset(e.dataset, sd, steps, e.resolved["guidance"].get<double>());
  if (dataset->size() < e.dataset.limit)
    throw InputError("dataset.limit", std::to_string(e.dataset.limit) + " items asked, " + e.dataset.name + " has " + std::to_string(dataset->size()));

  if (e.metrics.wants("flexit_accuracy")) {
    std::set<std::int64_t> classes;
    for (std::int64_t i = 0; i < e.dataset.limit; ++i) classes.insert(dataset->get(i).target_label);
    classes.erase(-1);
    models.benchmark_classes.assign(classes.begin(), classes.end());
  }

  std::vector<std::int64_t> items;
  for (std::int64_t i = o.shard_index; i < e.dataset.limit; i += o.shard_count) items.push_back(i);
  const std::int64_t planned = static_cast<std::int64_t>(items.size() * e.seeds.size() * e.settings.size());
  Progress progress("run " + e.name, planned, o.quiet ? Progress::Style::silent : Progress::Style::automatic);
  std::int64_t computed = 0, failed = 0;
  const std::int64_t evaluations_before = sd.denoiser.evaluations();

  for (const std::int64_t index : items) {
    const std::string item = item_key(e.dataset, index);
    for (const std::uint64_t seed : e.seeds) {
      std::vector<std::size_t> missing;
      std::vector<std::string> keys;
      for (std::size_t s = 0; s < e.settings.size(); ++s) {
        keys.push_back(record_key(item, e.settings[s].method, e.settings[s].parameters, seed));
        if (store.contains(keys.back())) progress.advance();
        else missing.push_back(s);
      }
      if (missing.empty()) continue;
      const data::EditSample sample = dataset->get(index);
      const editing::EditRequest request = editing::request_for(sample, rng::derive_seed(seed, item));
      std::vector<editing::Setting> settings;
      for (const std::size_t s : missing) settings.push_back(e.settings[s].setting());

      auto base_record = [&](std::size_t s) {
        const auto& st = e.settings[s];
        return Json{{"key", keys[s]},       {"item", item},          {"item_index", index}, {"seed", seed},
                    {"method", st.method},  {"label", st.label},     {"setting", st.name},  {"parameters", st.parameters},
                    {"query", sample.query}, {"reference", sample.reference}, {"target_label", sample.target_label},
                    {"world", sample.world.empty() ? Json(nullptr) : Json(sample.world)}};
      };
      std::vector<bool> written(missing.size(), false);
      try {
        editing::edit_shared(sd, request, settings, [&](std::size_t j, editing::EditResult&& result) {
          const std::size_t s = missing[j];
          store.put(result_record(base_record(s), e.settings[s].label, sample, result, models, o.out));
          written[j] = true;
          ++computed;
          progress.advance();
        });
      } catch (const NumericError& err) {
        // Non-finite values: the item's remaining settings fail with the error (recorded, reported in
        // the summary, never averaged); the sweep goes on with other items. Other errors (files,
        // configs) stop the run: nothing is recorded as failed that a re-run could complete.
        log::warn(item, " seed ", seed, ": ", err.what());
        for (std::size_t j = 0; j < missing.size(); ++j) {
          if (written[j]) continue;
          Json record = base_record(missing[j]);
          record["status"] = "failed";
          record["error"] = err.what();
          record["shared"] = Json::array();
          record["denoiser_evaluations"] = 0;
          store.put(record);
          ++failed;
          progress.advance();
        }
      }
    }
  }
  progress.finish();

  Json summary = write_summary(e, o.out, o.cache_dir);
  summary["this_invocation"] = {{"records_computed", computed},
                                {"records_failed", failed},
                                {"denoiser_evaluations", sd.denoiser.evaluations() - evaluations_before},
                                {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
                                {"shard", std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count)},
                                {"threads", at::get_num_threads()}};
  fs::write_atomic(o.out / "summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace diffedit::eval
