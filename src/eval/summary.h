// The set-level view of a run: per method and setting, the means of the per-image metrics, the
// set metrics from pooled features (FID, KID, CSFID against the reference set), and the
// denoiser-evaluation accounting. A pure function of the config, the records and the reference
// features — which is why a resumed run, or shards merged, give the same numbers as one run.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "eval/experiment.h"
#include "metrics/frechet.h"
#include "metrics/stats_file.h"

namespace diffedit::eval {

// The planned records of an experiment (all shards): key -> {item index, item id, seed, setting index}.
struct PlannedRecord {
  std::int64_t item_index = 0;
  std::string item;
  std::uint64_t seed = 0;
  std::size_t setting = 0;
};
std::map<std::string, PlannedRecord> plan_records(const Experiment& e);

struct ReferenceSet {
  at::Tensor features;                      // [N, d]
  at::Tensor labels;                        // [N] classes of the reference images (-1 unknown)
  std::optional<metrics::StatsFile> stats;  // instead of features: metrics.reference_stats
};
// Features of the reference dataset's images (through the feature cache); empty without set metrics.
ReferenceSet reference_set(const Experiment& e, const std::filesystem::path& cache_dir);

// The reference set as the set metrics use it: its Gaussian and its class means.
struct ReferenceSummary {
  std::map<std::int64_t, at::Tensor> class_means;
  std::optional<metrics::FeatureStats> stats;
};
ReferenceSummary reference_summary(const ReferenceSet& reference);

// A setting's per-image metrics as the metric registry aggregates them: means, or the PSNR of the
// mean MSE; values declared `none` are left out, and keys no metric declares (older records) are
// averaged.
config::Json mean_metrics(const std::vector<const config::Json*>& records);

config::Json summarize(const Experiment& e, const std::map<std::string, config::Json>& records, const ReferenceSet& reference);

// "label/setting/metric" -> value for every number under summary["metrics"].
std::map<std::string, double> flatten_metrics(const config::Json& summary);

}  // namespace diffedit::eval
