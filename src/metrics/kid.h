// Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2 between two feature sets
// under the polynomial kernel k(x, y) = (x.y / d + 1)^3, and clean-fid's subset estimate (the mean
// of the equal-size unbiased MMD^2 over random subsets, feats2's subset drawn first).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace diffedit::metrics {

// Unbiased MMD^2 of all of features1 [N1, d] and features2 [N2, d], in float64.
double kid_unbiased(const at::Tensor& features1, const at::Tensor& features2);

// One subset: rows of features2 and rows of features1 (equal counts m).
struct KidSubset {
  std::vector<std::int64_t> rows2, rows1;
};

// clean-fid's kernel_distance on given subsets; the arithmetic runs in `dtype` (clean-fid's
// pipeline hands it float32 features).
double kid_subsets(const at::Tensor& features1, const at::Tensor& features2, const std::vector<KidSubset>& subsets,
                   at::ScalarType dtype = at::kFloat);

// Subsets drawn without replacement from a seeded generator: m = min(N1, N2, max_subset_size).
std::vector<KidSubset> draw_kid_subsets(std::int64_t n1, std::int64_t n2, std::int64_t num_subsets, std::int64_t max_subset_size,
                                        std::uint64_t seed);

}  // namespace diffedit::metrics
