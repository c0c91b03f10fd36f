#include "metrics/csfid.h"

#include <ATen/ATen.h>

#include <set>

#include "core/errors.h"
#include "metrics/frechet.h"

namespace diffedit::metrics {

namespace {
std::set<std::int64_t> classes_of(const at::Tensor& labels) {
  const at::Tensor l = labels.to(at::kLong).contiguous();
  return {l.data_ptr<std::int64_t>(), l.data_ptr<std::int64_t>() + l.numel()};
}
at::Tensor rows_of(const at::Tensor& features, const at::Tensor& labels, std::int64_t c) {
  return features.index({labels.to(at::kLong) == c});
}
void check(const at::Tensor& features, const at::Tensor& labels) {
  if (features.dim() != 2 || labels.dim() != 1 || labels.size(0) != features.size(0))
    throw InputError("csfid", "features must be [N, d] with one label per row");
  if (features.size(0) == 0) throw InputError("csfid", "no features");
}
}  // namespace

std::map<std::int64_t, at::Tensor> class_means(const at::Tensor& features, const at::Tensor& labels, at::ScalarType dtype) {
  check(features, labels);
  std::map<std::int64_t, at::Tensor> out;
  const at::Tensor f = features.to(dtype);
  for (const auto c : classes_of(labels)) out[c] = rows_of(f, labels, c).mean(0);
  return out;
}

CsfidResult csfid_mean(const at::Tensor& features, const at::Tensor& labels, const std::map<std::int64_t, at::Tensor>& reference_means,
                       at::ScalarType dtype) {
  check(features, labels);
  const at::Tensor f = features.to(dtype);
  CsfidResult r;
  std::vector<at::Tensor> d;
  for (const auto c : classes_of(labels)) {
    const auto ref = reference_means.find(c);
    if (ref == reference_means.end()) throw InputError("csfid", "class " + std::to_string(c) + " has no reference statistics");
    const at::Tensor diff = rows_of(f, labels, c).mean(0) - ref->second.to(dtype);
    d.push_back((diff * diff).sum());
    r.per_class[c] = d.back().item<double>();
  }
  r.value = at::stack(d).mean().item<double>();
  return r;
}

double sfid_mean(const at::Tensor& features, const at::Tensor& reference_mean, at::ScalarType dtype) {
  if (features.dim() != 2 || reference_mean.dim() != 1 || reference_mean.size(0) != features.size(1))
    throw InputError("sfid", "features must be [N, d] and the reference mean [d]");
  const at::Tensor diff = features.to(dtype).mean(0) - reference_mean.to(dtype);
  return (diff * diff).sum().item<double>();
}

CsfidResult per_class_frechet_mean(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& reference_features,
                                   const at::Tensor& reference_labels, const FrechetOptions& options) {
  check(features, labels);
  check(reference_features, reference_labels);
  CsfidResult r;
  double sum = 0;
  for (const auto c : classes_of(labels)) {
    const at::Tensor ref = rows_of(reference_features, reference_labels, c);
    if (ref.size(0) < 2) throw InputError("csfid", "class " + std::to_string(c) + " has fewer than 2 reference features");
    const double fd = frechet_distance(feature_stats(rows_of(features, labels, c)), feature_stats(ref), options).distance;
    r.per_class[c] = fd;
    sum += fd;
  }
  r.value = sum / static_cast<double>(r.per_class.size());
  return r;
}

}  // namespace diffedit::metrics
