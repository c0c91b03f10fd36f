// Feature statistics (mean and covariance, float64) and the Fréchet distance between two Gaussians
// (FID when the features are pytorch-fid's Inception pool3; Heusel et al. 2017):
//   FD = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2).
// tr sqrt(S1 S2) is computed without a general matrix square root: for symmetric positive
// semi-definite S1, S2 it is the sum of the square roots of the eigenvalues of S1 S2, which are
// those of the symmetric L^T S1 L with S2 = L L^T (Cholesky; S1^1/2 S2 S1^1/2 from an
// eigendecomposition of S1 when S2 is singular). So a Cholesky factorisation and one symmetric
// eigenvalue problem in float64 (LAPACK through libtorch) replace scipy's Schur-based sqrtm.
// Eigenvalues that come out slightly negative are rounding noise of a PSD matrix and are clipped
// to 0 (the most negative one is reported so a genuinely indefinite input is visible).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace diffedit::metrics {

struct FeatureStats {
  at::Tensor mu;     // [d] float64
  at::Tensor sigma;  // [d, d] float64, N - 1 denominator (numpy's cov)
  std::int64_t n = 0;
};

// Statistics of features [N, d] (any float dtype; computed in float64 as pytorch-fid does). N >= 2.
FeatureStats feature_stats(const at::Tensor& features);

// pytorch-fid retries with (S1 + eps I)(S2 + eps I) inside the root when scipy's sqrtm returns
// non-finite values, which happens on some singular products depending on LAPACK's rounding.
// `never` gives the exact value (equal to the reference whenever its first attempt succeeds, the
// usual case); `always` reproduces the retry branch.
enum class EpsOffset { never, always };

struct FrechetOptions {
  double eps = 1e-6;  // pytorch-fid's offset
  EpsOffset offset = EpsOffset::never;
};

struct FrechetResult {
  double distance = 0;
  double mean_term = 0;   // |mu1 - mu2|^2
  double trace_sqrt = 0;  // tr sqrt(S1 S2) as used
  bool offset_applied = false;
  bool repeated_zero_eigenvalue = false;  // the product is singular where the reference may retry with the offset
  double most_negative_eigenvalue = 0;    // of S1^1/2 S2 S1^1/2 before clipping (0 if none)
};

// InputError when the dimensions differ or a statistic is not finite.
FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b, const FrechetOptions& options = {});

}  // namespace diffedit::metrics
