// The set metrics of the registry: computed over a setting's edited images from the features each
// record stores, against the reference set (metrics.reference or metrics.reference_stats).
#include <ATen/ATen.h>

#include <map>
#include <set>

#include "eval/metric_registry.h"
#include "eval/summary.h"
#include "metrics/csfid.h"
#include "metrics/frechet.h"
#include "metrics/kid.h"

namespace diffedit::eval {

using config::Json;

namespace {

Metric fid() {
  Metric m{.name = "fid", .kind = MetricKind::set, .doc = "Fréchet distance of the edited images' features to the reference set's"};
  m.needs = {.feature_net = true};
  m.values = {{.key = "fid", .better = Better::lower}};
  m.aggregate = [](const SetContext& c, Json& out) {
    out["fid"] = metrics::frechet_distance(metrics::feature_stats(c.features), *c.summary.stats).distance;
  };
  return m;
}

Metric kid() {
  Metric m{.name = "kid", .kind = MetricKind::set, .doc = "unbiased kernel inception distance to the reference images' features"};
  m.needs = {.feature_net = true, .reference_images = true};
  m.values = {{.key = "kid", .better = Better::lower}};
  m.aggregate = [](const SetContext& c, Json& out) { out["kid"] = metrics::kid_unbiased(c.features, c.reference.features); };
  return m;
}

// FlexIT's CSFID. Target classes without reference images cannot enter it: they are left out and
// counted, so a too-small reference set is visible in the summary.
Metric csfid() {
  Metric m{.name = "csfid", .kind = MetricKind::set, .doc = "FlexIT's class-conditional simplified FID (mean-only, per target class)"};
  m.needs = {.feature_net = true};
  m.values = {{.key = "csfid", .better = Better::lower, .axis = Axis::edit, .axis_rank = 1},
              {.key = "csfid_classes_without_reference", .aggregate = Aggregate::none}};
  m.aggregate = [](const SetContext& c, Json& out) {
    std::map<std::int64_t, at::Tensor> present_means;
    std::vector<std::int64_t> rows;
    std::set<std::int64_t> missing;
    for (std::size_t j = 0; j < c.labels.size(); ++j) {
      const auto it = c.summary.class_means.find(c.labels[j]);
      if (it == c.summary.class_means.end()) {
        missing.insert(c.labels[j]);
        continue;
      }
      present_means[c.labels[j]] = it->second;
      rows.push_back(static_cast<std::int64_t>(j));
    }
    out["csfid_classes_without_reference"] = missing.size();
    if (!rows.empty()) {
      const at::Tensor idx = at::tensor(rows, at::kLong);
      out["csfid"] =
          metrics::csfid_mean(c.features.index_select(0, idx), at::tensor(c.labels, at::kLong).index_select(0, idx), present_means).value;
    }
  };
  return m;
}

Metric sfid() {
  Metric m{.name = "sfid", .kind = MetricKind::set, .doc = "FlexIT's simplified FID (mean-only)"};
  m.needs = {.feature_net = true};
  m.values = {{.key = "sfid", .better = Better::lower}};
  m.aggregate = [](const SetContext& c, Json& out) { out["sfid"] = metrics::sfid_mean(c.features, c.summary.stats->mu.to(at::kFloat)); };
  return m;
}

// The full per-class Fréchet average, NOT FlexIT's CSFID. A class enters with at least two edits
// and two reference images (a covariance needs two); how many did is reported.
Metric csfid_frechet() {
  Metric m{.name = "csfid_frechet", .kind = MetricKind::set, .doc = "the mean over target classes of the full Fréchet distance"};
  m.needs = {.feature_net = true, .reference_images = true};
  m.values = {{.key = "csfid_frechet", .better = Better::lower}, {.key = "csfid_frechet_classes"}};
  m.aggregate = [](const SetContext& c, Json& out) {
    std::map<std::int64_t, std::int64_t> edits_per_class, references_per_class;
    for (const auto l : c.labels) ++edits_per_class[l];
    const at::Tensor reference_labels = c.reference.labels.to(at::kLong).contiguous();
    for (std::int64_t j = 0; j < reference_labels.numel(); ++j) ++references_per_class[reference_labels.data_ptr<std::int64_t>()[j]];
    std::vector<std::int64_t> rows;
    std::set<std::int64_t> used;
    for (std::size_t j = 0; j < c.labels.size(); ++j)
      if (edits_per_class[c.labels[j]] >= 2 && references_per_class[c.labels[j]] >= 2) {
        rows.push_back(static_cast<std::int64_t>(j));
        used.insert(c.labels[j]);
      }
    out["csfid_frechet_classes"] = used.size();
    if (!rows.empty()) {
      const at::Tensor idx = at::tensor(rows, at::kLong);
      out["csfid_frechet"] =
          metrics::per_class_frechet_mean(c.features.index_select(0, idx), at::tensor(c.labels, at::kLong).index_select(0, idx),
                                          c.reference.features, c.reference.labels)
              .value;
    }
  };
  return m;
}

}  // namespace

std::vector<Metric> set_metrics() { return {fid(), kid(), csfid(), sfid(), csfid_frechet()}; }

}  // namespace diffedit::eval
