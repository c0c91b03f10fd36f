#include "metrics/frechet.h"

#include <ATen/ATen.h>

#include <algorithm>
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

  // The eigenvalues of S1 S2 are those of the symmetric L^T S1 L for S2 = L L^T (Cholesky, when
  // S2 is positive definite: one d^3/3 factorisation), else of S1^1/2 S2 S1^1/2 through an
  // eigendecomposition of S1. Either way one symmetric eigenvalue problem remains.
  auto trace_sqrt = [&](const at::Tensor& a1, const at::Tensor& a2, double* most_negative, std::int64_t* zeros) {
    at::Tensor inner;
    auto [chol, info] = at::linalg_cholesky_ex(a2);
    if (info.item<std::int64_t>() == 0) {
      inner = at::matmul(at::matmul(chol.t(), a1), chol);
    } else {
      auto [l, v] = eigh(a1);
      const at::Tensor root = l.clamp_min(0).sqrt();
      inner = root.unsqueeze(1) * at::matmul(at::matmul(v.t(), a2), v) * root.unsqueeze(0);
    }
    const at::Tensor mu = at::linalg_eigvalsh(0.5 * (inner + inner.t()));
    *most_negative = std::min(0.0, mu.min().item<double>());
    const double tol = static_cast<double>(d) * std::numeric_limits<double>::epsilon() * std::max(1e-300, mu.abs().max().item<double>());
    *zeros = (mu.abs() <= tol).sum().item<std::int64_t>();
    return mu.clamp_min(0).sqrt().sum().item<double>();
  };
  std::int64_t zeros = 0;
  r.trace_sqrt = trace_sqrt(s1, s2, &r.most_negative_eigenvalue, &zeros);
  // A repeated zero eigenvalue of the product is where the reference's Schur sqrtm may break down
  // (its recurrence divides by sqrt(a) + sqrt(b)) and retry with the offset; whether it does
  // depends on LAPACK's rounding, so it is reported, not guessed.
  r.repeated_zero_eigenvalue = zeros >= 2;
  const bool offset = o.offset == EpsOffset::always;
  if (offset) {
    const at::Tensor eye = o.eps * at::eye(d, s1.options());
    r.trace_sqrt = trace_sqrt(s1 + eye, s2 + eye, &r.most_negative_eigenvalue, &zeros);
  }
  r.offset_applied = offset;
  r.distance = r.mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2 * r.trace_sqrt;
  return r;
}

}  // namespace diffedit::metrics
