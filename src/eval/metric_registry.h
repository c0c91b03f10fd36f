// The metric registry: every metric an experiment can ask for (`metrics.per_image`, `metrics.set`),
// each declared once — its name, what it reads besides the edited image, whether it is computed per
// image or over a setting's set of images, the values it writes, how a setting's record values
// become its summary value, and which direction is better. The config schema, the plan
// (`run --dry-run`), the runner, the summary, the report's tables and the claims' trade-off axes all
// read this table; adding a metric is one entry (per_image_metrics.cpp or set_metrics.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::data {
struct EditSample;
}
namespace diffedit::editing {
struct EditResult;
}

namespace diffedit::eval {

struct MetricNetworks;
struct ReferenceSet;
struct ReferenceSummary;

enum class MetricKind { per_image, set };
// How the values of a setting's records become the summary's value.
enum class Aggregate {
  mean,          // the mean over the records
  psnr_of_mean,  // an MSE per record; the summary holds the PSNR of their mean (the toy-eval convention)
  none,          // not aggregated, not a table column: kept in the records (a predicted class) or the
                 // summary (a set metric's bookkeeping count)
};
enum class Better { higher, lower, neither };
// The trade-off plots and claims put a measure of the edit (did it happen?) against a measure of
// fidelity (how much of the input survived); a run's axes are the best-ranked values it has.
enum class Axis { none, edit, fidelity };

// One number a metric writes: into each record's "metrics" (per image) or the summary (set).
struct MetricValue {
  std::string key;
  Aggregate aggregate = Aggregate::mean;
  std::string summary_key;  // the summary's name (empty: key)
  Better better = Better::neither;
  Axis axis = Axis::none;
  int axis_rank = 0;  // among the values of its axis: lower is preferred
  const std::string& shown_as() const { return summary_key.empty() ? key : summary_key; }
};

// What a metric reads besides the edited image. The networks are the experiment's
// metrics.lpips / clip_model / classifier / feature_net.
struct MetricNeeds {
  bool lpips = false, clip = false, classifier = false, feature_net = false;
  bool dino = false;              // metrics.dino (PIE-Bench's structure distance)
  bool reference_images = false;  // set metrics that need the reference images, not only their statistics
  std::string compares;           // "input", "query", "target class", ... (for the plan)
  std::string ground_truth;       // "edit region", "target image" (toy datasets)
};

// A per-image metric's view of one finished edit (edited, input: [1, 3, H, W] in [0, 1] on the CPU).
struct ImageContext {
  const data::EditSample& sample;
  const editing::EditResult& result;
  const at::Tensor& edited;
  const at::Tensor& input;
  MetricNetworks& networks;
};

// A set metric's view of one setting: the edited images' features [N, d] and target classes, and
// the reference set (features or statistics, its Gaussian and class means).
struct SetContext {
  const at::Tensor& features;
  const std::vector<std::int64_t>& labels;
  const ReferenceSet& reference;
  const ReferenceSummary& summary;
};

struct Metric {
  std::string name;
  MetricKind kind = MetricKind::per_image;
  std::string doc;
  MetricNeeds needs;
  std::vector<MetricValue> values;
  // Per image: writes its values into the record's metrics (nothing when the item lacks what it
  // compares with, e.g. a ground-truth region).
  std::function<void(ImageContext&, config::Json&)> measure;
  // Set: writes its values into the setting's summary.
  std::function<void(const SetContext&, config::Json&)> aggregate;
};

// Every metric, in the order the report's tables show them.
const std::vector<Metric>& metric_registry();
// The metric of that name; std::out_of_range for a name the registry lacks (configs are validated
// against metric_names first).
const Metric& find_metric(const std::string& name);
std::vector<std::string> metric_names(MetricKind kind);
// The declaration of a value by its record or summary key; nullopt for keys no metric declares.
std::optional<MetricValue> metric_value(const std::string& key);
// The values of an axis, preferred first.
std::vector<MetricValue> axis_values(Axis axis);
// Summary keys in table order (the registry's), "n" last.
const std::vector<std::string>& table_metric_order();

}  // namespace diffedit::eval
