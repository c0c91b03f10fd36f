#include "eval/metric_registry.h"

#include <algorithm>
#include <stdexcept>

namespace diffedit::eval {

std::vector<Metric> per_image_metrics();  // per_image_metrics.cpp
std::vector<Metric> set_metrics();        // set_metrics.cpp
std::vector<Metric> piebench_metrics();   // piebench_image_metrics.cpp

const std::vector<Metric>& metric_registry() {
  static const std::vector<Metric> registry = [] {
    std::vector<Metric> all = per_image_metrics();
    for (auto& m : piebench_metrics()) all.push_back(std::move(m));
    for (auto& m : set_metrics()) all.push_back(std::move(m));
    // Table order: what an edit achieves, then how far it moved, then the ground-truth checks.
    static const std::vector<std::string> order = {"edit_success",  "clip_score",      "lpips",         "fid",           "kid",
                                                   "csfid",         "mask_iou",        "unedited_psnr", "unedited_ssim", "target_psnr",
                                                   "csfid_frechet", "flexit_accuracy", "flexit_lpips",  "sfid"};
    const auto rank = [&](const Metric& m) { return std::find(order.begin(), order.end(), m.name) - order.begin(); };
    std::stable_sort(all.begin(), all.end(), [&](const Metric& a, const Metric& b) { return rank(a) < rank(b); });
    return all;
  }();
  return registry;
}

const Metric& find_metric(const std::string& name) {
  for (const auto& m : metric_registry())
    if (m.name == name) return m;
  throw std::out_of_range("no metric named '" + name + "' in the registry");
}

std::vector<std::string> metric_names(MetricKind kind) {
  std::vector<std::string> names;
  for (const auto& m : metric_registry())
    if (m.kind == kind) names.push_back(m.name);
  return names;
}

std::optional<MetricValue> metric_value(const std::string& key) {
  for (const auto& m : metric_registry())
    for (const auto& v : m.values)
      if (v.key == key || v.summary_key == key) return v;
  return std::nullopt;
}

std::vector<MetricValue> axis_values(Axis axis) {
  std::vector<MetricValue> values;
  for (const auto& m : metric_registry())
    for (const auto& v : m.values)
      if (v.axis == axis) values.push_back(v);
  std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return a.axis_rank < b.axis_rank; });
  return values;
}

const std::vector<std::string>& table_metric_order() {
  static const std::vector<std::string> order = [] {
    std::vector<std::string> keys;
    for (const auto& m : metric_registry())
      for (const auto& v : m.values)
        if (v.aggregate != Aggregate::none) keys.push_back(v.shown_as());
    keys.push_back("n");
    return keys;
  }();
  return order;
}

}  // namespace diffedit::eval
