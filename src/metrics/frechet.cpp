#include "metrics/frechet.h"

#include <ATen/ATen.h>

#include <limits>

#include "core/errors.h"

namespace diffedit::metrics {

namespace {
void check(const FeatureStats& s, const char* which) {
  if (!s.mu.defined() || !s.sigma.defined() || s.mu.dim() != 1 || s.sigma.dim() != 2 || s.sigma.size(0) != s.mu.size(0) ||
      s.sigma.size(1) != s.mu.size(0))
    throw InputError(which, "statistics must be mu [d] and sigma [d, d]");
  if (!at::isfinite(s.mu).all().item<bool>() || !at::isfinite(s.sigma).all().item<bool>())
    throw InputError(which, "statistics contain NaN or infinite values");
}

// Symmetric eigendecomposition; the input is symmetrised first (rounding can break symmetry).
std::tuple<at::Tensor, at::Tensor> eigh(const at::Tensor& m) { return at::linalg_eigh(0.5 * (m + m.t())); }

bool rank_deficient(const at::Tensor& eigenvalues) {
  const double top = eigenvalues.abs().max().item<double>();
  const double tol = static_cast<double>(eigenvalues.size(0)) * std::numeric_limits<double>::epsilon() * top;
  return eigenvalues.min().item<double>() <= tol;
}
}  // namespace

FeatureStats feature_stats(const at::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2) throw InputError("features", "need [N, d] with N >= 2");
  const at::Tensor x = features.to(at::kDouble);
  if (!at::isfinite(x).all().item<bool>()) throw InputError("features", "contain NaN or infinite values");
  FeatureStats s;
  s.n = x.size(0);
  s.mu = x.mean(0);
  const at::Tensor c = x - s.mu;
  s.sigma = at::matmul(c.t(), c) / static_cast<double>(s.n - 1);
  return s;
}

FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b, const FrechetOptions& o) {
  check(a, "statistics 1");
  check(b, "statistics 2");
  if (a.mu.size(0) != b.mu.size(0))
    throw InputError("statistics", "dimensions differ: " + std::to_string(a.mu.size(0)) + " vs " + std::to_string(b.mu.size(0)));
  const at::Tensor s1 = a.sigma.to(at::kDouble), s2 = b.sigma.to(at::kDouble);
  const auto d = s1.size(0);
  FrechetResult r;
  const at::Tensor diff = a.mu.to(at::kDouble) - b.mu.to(at::kDouble);
  r.mean_term = diff.dot(diff).item<double>();

  auto [l1, v1] = eigh(s1);
  bool offset = o.offset == EpsOffset::always;
  if (o.offset == EpsOffset::automatic) offset = rank_deficient(l1) || rank_deficient(at::linalg_eigvalsh(0.5 * (s2 + s2.t())));
  at::Tensor b2 = s2;
  if (offset) {  // (S1 + eps I)(S2 + eps I): shift S1's eigenvalues, add to S2
    l1 = l1 + o.eps;
    b2 = s2 + o.eps * at::eye(d, s2.options());
  }
  // S1^1/2 S2 S1^1/2 = V diag(sqrt l) V^T S2 V diag(sqrt l) V^T has the eigenvalues of
  // diag(sqrt l) (V^T S2 V) diag(sqrt l): one fewer pair of d^3 products.
  const at::Tensor root = l1.clamp_min(0).sqrt();
  const at::Tensor inner = root.unsqueeze(1) * at::matmul(at::matmul(v1.t(), b2), v1) * root.unsqueeze(0);
  const at::Tensor mu = at::linalg_eigvalsh(0.5 * (inner + inner.t()));
  r.most_negative_eigenvalue = std::min(0.0, mu.min().item<double>());
  r.trace_sqrt = mu.clamp_min(0).sqrt().sum().item<double>();
  r.offset_applied = offset;
  r.distance = r.mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2 * r.trace_sqrt;
  return r;
}

}  // namespace diffedit::metrics
