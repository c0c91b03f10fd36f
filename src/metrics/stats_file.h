// Feature statistics on disk, in HDF5: datasets `mu` [d] and `sigma` [d, d] (float64), attributes
// `n` (int64, number of images), `feature_net` (e.g. "inception-fid", "toy-classifier"),
// `weights_hash` (of the feature network's weights) and `preprocessing` (free text). The layout of
// pytorch-fid's / clean-fid's stats files, plus the provenance needed to not compare stats made by
// different networks. Optionally per class (FlexIT's `classwise` statistics, for CSFID):
// `class_means` [K, d] and `class_counts` [K] (float64), class k being row k.
#pragma once

#include <filesystem>
#include <string>

#include "metrics/frechet.h"

namespace diffedit::metrics {

struct StatsFile {
  FeatureStats stats;
  std::string feature_net, weights_hash, preprocessing;
  at::Tensor class_means, class_counts;  // undefined unless written per class
};

// The per-class part of a stats file from features [N, d] and labels [N] in 0..classes-1: row k
// of class_means is the float64 mean of class k's features (zeros for a class without images,
// whose count is 0, so that CSFID can leave it out while every class keeps its id).
void set_class_statistics(StatsFile& file, const at::Tensor& features, const at::Tensor& labels, std::int64_t classes);

// Written to a temporary file and renamed into place.
void write_stats(const std::filesystem::path& path, const StatsFile& file);
// FileError when missing; FormatError naming the file when it is not HDF5, lacks a dataset or has
// inconsistent shapes or a value that is not finite.
StatsFile read_stats(const std::filesystem::path& path);

}  // namespace diffedit::metrics
