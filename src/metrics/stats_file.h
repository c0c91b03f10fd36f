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

// Written to a temporary file and renamed into place.
void write_stats(const std::filesystem::path& path, const StatsFile& file);
// FileError when missing; FormatError naming the file when it is not HDF5, lacks a dataset or has
// inconsistent shapes or a value that is not finite.
StatsFile read_stats(const std::filesystem::path& path);

}  // namespace diffedit::metrics
