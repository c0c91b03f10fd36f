// Class-conditional FID as FlexIT's evaluation computes it (Couairon et al. 2022), and the full
// per-class Fréchet average under a different name so the two are never confused.
//   csfid_mean ("CSFID" in FlexIT's tables): for each TARGET class c present among the edited
//     images, d_c = |mean of their features - the class's reference mean|^2 (squared, no root, no
//     covariance term); the score is the average of d_c over the present classes. Reference classes
//     absent from the edited set are ignored; a class with one image counts.
//   sfid_mean: |mean of all edited features - the reference global mean|^2.
//   per_class_frechet_mean (NOT FlexIT's metric): the average over present classes of the full
//     Fréchet distance between the class's edited and reference features.
// Features are [N, d]; labels are class ids (any int64, e.g. ImageNet ids).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>

#include "metrics/frechet.h"

namespace diffedit::metrics {

struct CsfidResult {
  double value = 0;
  std::map<std::int64_t, double> per_class;  // d_c (or the class's Fréchet distance)
};

// `reference_means`: class id -> mean feature [d]. InputError naming the class when a present class
// has no reference. Computed in `dtype` (FlexIT: float32).
CsfidResult csfid_mean(const at::Tensor& features, const at::Tensor& labels, const std::map<std::int64_t, at::Tensor>& reference_means,
                       at::ScalarType dtype = at::kFloat);
double sfid_mean(const at::Tensor& features, const at::Tensor& reference_mean, at::ScalarType dtype = at::kFloat);

// Per-class reference means from reference features and labels, in `dtype`.
std::map<std::int64_t, at::Tensor> class_means(const at::Tensor& features, const at::Tensor& labels, at::ScalarType dtype = at::kFloat);

// The full per-class Fréchet average (float64), reference features given per sample.
CsfidResult per_class_frechet_mean(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& reference_features,
                                   const at::Tensor& reference_labels, const FrechetOptions& options = {});

}  // namespace diffedit::metrics
