#include "eval/summary.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/errors.h"
#include "core/log.h"
#include "data/datasets.h"
#include "data/toyworld_presets.h"
#include "editing/shared_edits.h"
#include "eval/features.h"
#include "eval/metric_registry.h"
#include "eval/record_store.h"
#include "metrics/csfid.h"
#include "metrics/region.h"

namespace diffedit::eval {

using config::Json;

std::map<std::string, PlannedRecord> plan_records(const Experiment& e) {
  std::map<std::string, PlannedRecord> plan;
  for (std::int64_t i = 0; i < e.dataset.limit; ++i)
    for (const std::uint64_t seed : e.seeds)
      for (std::size_t s = 0; s < e.settings.size(); ++s) {
        const std::string item = item_key(e.dataset, i);
        plan.emplace(record_key(item, e.settings[s].method, e.settings[s].parameters, seed), PlannedRecord{i, item, seed, s});
      }
  return plan;
}

namespace {

// The reference images' features come from the run's device, like the edits' (a large reference
// set is where a summary's time goes), or from the CPU where this machine lacks that device:
// merging the shards of a GPU run on a login node still works.
at::Device reference_device(const Experiment& e) {
  const at::Device device = parse_device_name(e.device, "device");
  try {
    check_device(device, "device");
    return device;
  } catch (const InputError&) {
    log::info("reference features on the CPU: " + e.device + " is not available here");
    return at::kCPU;
  }
}

}  // namespace

ReferenceSet reference_set(const Experiment& e, const std::filesystem::path& cache_dir) {
  ReferenceSet r;
  if (e.metrics.set.empty()) return r;
  const DatasetSpec& d = e.metrics.reference;
  FeatureNet net = make_feature_net(e.metrics.feature_net.name, e.metrics.feature_net.weights, reference_device(e));
  if (!e.metrics.reference_stats.empty()) {
    // Statistics made elsewhere (ImageNet train): only valid with the same network and weights.
    const std::string path = e.metrics.reference_stats.string();
    r.stats = metrics::read_stats(e.metrics.reference_stats);
    if (r.stats->feature_net != net.name)
      throw InputError(path, "statistics of '" + r.stats->feature_net + "', the experiment's feature network is '" + net.name + "'");
    if (r.stats->weights_hash != net.weights_hash)
      throw InputError(path, "made with other weights of " + net.name + " than metrics.feature_net.weights");
    if (e.metrics.wants("csfid") && !r.stats->class_means.defined())
      throw InputError(path, "has no class_means: write it with `diffedit metrics stats --by-class`");
    return r;
  }
  const auto dataset = data::make_dataset(d);
  std::vector<std::int64_t> labels;
  std::vector<at::Tensor> images;
  for (std::int64_t i = 0; i < d.limit; ++i) {
    const auto sample = dataset->get(i);
    labels.push_back(sample.source_label);
    images.push_back(sample.image);
  }
  const std::string key = "dataset " + Json{{"name", d.name},
                                            {"split", d.split},
                                            {"limit", d.limit},
                                            {"world_seed", d.world_seed},
                                            {"world", data::toyworld::world_to_json(d.world)}}
                                           .dump();
  r.features = cached_features(net, cache_dir, key, [&] {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> parts;
    for (std::size_t i = 0; i < images.size(); i += 256)
      parts.push_back(
          net.extract(at::stack(std::vector<at::Tensor>(images.begin() + i, images.begin() + std::min(images.size(), i + 256)))));
    return at::cat(parts);
  });
  r.labels = at::tensor(labels, at::kLong);
  return r;
}

ReferenceSummary reference_summary(const ReferenceSet& reference) {
  ReferenceSummary out;
  if (reference.stats) {
    out.stats = reference.stats->stats;
    if (reference.stats->class_means.defined())
      for (std::int64_t k = 0; k < reference.stats->class_means.size(0); ++k)
        if (reference.stats->class_counts[k].item<double>() > 0) out.class_means[k] = reference.stats->class_means[k].to(at::kFloat);
  } else if (reference.features.defined()) {
    out.class_means = metrics::class_means(reference.features, reference.labels);
    out.stats = metrics::feature_stats(reference.features);
  }
  return out;
}

Json mean_metrics(const std::vector<const Json*>& rs) {
  Json m = Json::object();
  std::map<std::string, std::pair<double, std::int64_t>> sums;
  for (const Json* r : rs)
    for (const auto& [k, v] : (*r)["metrics"].items())
      if (v.is_number() && std::isfinite(v.get<double>())) {
        auto& [sum, n] = sums[k];
        sum += v.get<double>();
        ++n;
      }
  for (const auto& [k, sn] : sums) {
    const double mean = sn.first / static_cast<double>(sn.second);
    const auto declared = metric_value(k);
    const Aggregate aggregate = declared ? declared->aggregate : Aggregate::mean;
    if (aggregate == Aggregate::psnr_of_mean)
      m[declared->shown_as()] = metrics::psnr_from_mse(mean);
    else if (aggregate == Aggregate::mean)
      m[k] = mean;
  }
  return m;
}

namespace {

// Evaluations per stage kind over the items: done with sharing, and what every setting run alone
// would have cost.
struct Accounting {
  std::int64_t done = 0, independent = 0;
  Json stages = Json::object();
};
Accounting evaluation_accounting(const std::map<std::pair<std::int64_t, std::uint64_t>, std::vector<editing::EditResult>>& by_item) {
  Accounting a;
  std::map<std::string, editing::StageEvaluations> stages;
  for (const auto& [item, costs] : by_item) {
    std::vector<const editing::EditResult*> pointers;
    for (const auto& c : costs) pointers.push_back(&c);
    for (const auto& [kind, ev] : editing::evaluations_by_stage(pointers)) {
      stages[kind].done += ev.done;
      stages[kind].if_independent += ev.if_independent;
    }
  }
  for (const auto& [kind, ev] : stages) {
    a.done += ev.done;
    a.independent += ev.if_independent;
    a.stages[kind] = {{"done", ev.done}, {"if_independent", ev.if_independent}};
  }
  return a;
}

// The set metrics of a setting's records, from their stored features and target labels.
void add_set_metrics(const Experiment& e, const std::vector<const Json*>& rs, const ReferenceSet& reference, const ReferenceSummary& ref,
                     Json& m) {
  std::vector<at::Tensor> feats;
  std::vector<std::int64_t> labels;
  for (const Json* r : rs) {
    feats.push_back(at::tensor((*r)["features"].get<std::vector<double>>(), at::kDouble));
    labels.push_back((*r).value("target_label", std::int64_t{-1}));
  }
  const at::Tensor f = at::stack(feats).to(at::kFloat);
  const SetContext context{f, labels, reference, ref};
  for (const auto& name : e.metrics.set) find_metric(name).aggregate(context, m);
}

}  // namespace

Json summarize(const Experiment& e, const std::map<std::string, Json>& records, const ReferenceSet& reference) {
  const auto plan = plan_records(e);
  Json metrics = Json::object();
  Json failures = Json::array();
  // Records of the plan, grouped by setting and by (item, seed) for the accounting.
  std::vector<std::vector<const Json*>> by_setting(e.settings.size());
  std::map<std::pair<std::int64_t, std::uint64_t>, std::vector<editing::EditResult>> by_item;
  std::int64_t present = 0;
  for (const auto& [key, planned] : plan) {
    const auto it = records.find(key);
    if (it == records.end()) continue;
    ++present;
    const Json& r = it->second;
    if (r.value("status", "") != "ok") {
      failures.push_back({{"key", key},
                          {"item", planned.item},
                          {"setting", e.settings[planned.setting].label + "/" + e.settings[planned.setting].name},
                          {"error", r.value("error", "unknown")}});
      continue;
    }
    by_setting[planned.setting].push_back(&r);
    editing::EditResult cost;
    cost.denoiser_evaluations = r["denoiser_evaluations"];
    for (const auto& s : r["shared"]) cost.shared.push_back({s["key"], s["evaluations"]});
    by_item[{planned.item_index, planned.seed}].push_back(std::move(cost));
  }

  // Per category (PIE-Bench's editing types) where the records name one: the per-image means.
  Json by_category = Json::object();
  for (std::size_t s = 0; s < e.settings.size(); ++s) {
    std::map<std::string, std::vector<const Json*>> groups;
    for (const Json* r : by_setting[s])
      if (r->contains("category") && (*r)["category"].is_string()) groups[(*r)["category"].get<std::string>()].push_back(r);
    for (const auto& [category, rs] : groups) {
      Json m = {{"n", rs.size()}};
      m.update(mean_metrics(rs));
      by_category[category][e.settings[s].label][e.settings[s].name] = m;
    }
  }

  const Accounting accounting = evaluation_accounting(by_item);
  const ReferenceSummary ref = reference_summary(reference);
  for (std::size_t s = 0; s < e.settings.size(); ++s) {
    const auto& setting = e.settings[s];
    const auto& rs = by_setting[s];
    Json m = {{"n", rs.size()}};
    if (!rs.empty()) {
      m.update(mean_metrics(rs));
      if (!e.metrics.set.empty() && rs.size() >= 2) add_set_metrics(e, rs, reference, ref, m);
    }
    metrics[setting.label][setting.name] = m;
  }

  Json summary = {
      {"name", e.name},
      {"metrics", metrics},
      {"records", {{"planned", plan.size()}, {"present", present}, {"failed", failures.size()}}},
      {"complete", present == static_cast<std::int64_t>(plan.size())},
      {"failures", failures},
      {"denoiser_evaluations", accounting.done},
      {"denoiser_evaluations_if_independent", accounting.independent},
      {"sharing_ratio", accounting.independent ? static_cast<double>(accounting.done) / static_cast<double>(accounting.independent) : 1.0},
      {"stages", accounting.stages},
      {"seeds", e.seeds},
      {"world",
       data::is_toy_dataset(e.dataset.name) ? data::toyworld::world_to_json(e.dataset.world) : Json(nullptr)},  // results name their world
      {"config", e.resolved},
  };
  if (!by_category.empty()) summary["by_category"] = by_category;
  return summary;
}

std::map<std::string, double> flatten_metrics(const Json& summary) {
  std::map<std::string, double> out;
  if (!summary.contains("metrics")) return out;
  for (const auto& [label, settings] : summary["metrics"].items())
    for (const auto& [setting, values] : settings.items())
      for (const auto& [metric, v] : values.items())
        if (v.is_number()) out[label + "/" + setting + "/" + metric] = v.get<double>();
  return out;
}

}  // namespace diffedit::eval
