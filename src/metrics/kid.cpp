#include "metrics/kid.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/errors.h"
#include "core/rng.h"

namespace diffedit::metrics {

namespace {
void check(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
    throw InputError("kid", "features must be [N1, d] and [N2, d] with the same d");
  if (a.size(0) < 2 || b.size(0) < 2) throw InputError("kid", "each set needs at least 2 features");
}
at::Tensor kernel(const at::Tensor& x, const at::Tensor& y) { return (at::matmul(x, y.t()) / static_cast<double>(x.size(1)) + 1).pow(3); }
double off_diagonal_sum(const at::Tensor& k) { return (k.sum() - k.diagonal().sum()).item<double>(); }
}  // namespace

double kid_unbiased(const at::Tensor& features1, const at::Tensor& features2) {
  check(features1, features2);
  const at::Tensor x = features1.to(at::kDouble), y = features2.to(at::kDouble);
  const double n1 = static_cast<double>(x.size(0)), n2 = static_cast<double>(y.size(0));
  return off_diagonal_sum(kernel(x, x)) / (n1 * (n1 - 1)) + off_diagonal_sum(kernel(y, y)) / (n2 * (n2 - 1)) -
         2 * kernel(x, y).sum().item<double>() / (n1 * n2);
}

double kid_subsets(const at::Tensor& features1, const at::Tensor& features2, const std::vector<KidSubset>& subsets, at::ScalarType dtype) {
  check(features1, features2);
  if (subsets.empty()) throw InputError("kid", "no subsets");
  const at::Tensor f1 = features1.to(dtype), f2 = features2.to(dtype);
  const auto m = static_cast<std::int64_t>(subsets.front().rows1.size());
  if (m < 2) throw InputError("kid", "subsets need at least 2 rows");
  // Accumulated as clean-fid does: t += [sum_offdiag(Kxx + Kyy)] / (m - 1) - 2 sum(Kxy) / m; KID = t / S / m.
  at::Tensor t = at::zeros({}, f1.options());
  for (const auto& s : subsets) {
    if (static_cast<std::int64_t>(s.rows1.size()) != m || static_cast<std::int64_t>(s.rows2.size()) != m)
      throw InputError("kid", "all subsets must have the same size");
    const at::Tensor x = f2.index_select(0, at::tensor(s.rows2, at::kLong)), y = f1.index_select(0, at::tensor(s.rows1, at::kLong));
    const at::Tensor a = kernel(x, x) + kernel(y, y), b = kernel(x, y);
    t = t + (a.sum() - a.diagonal().sum()) / static_cast<double>(m - 1) - b.sum() * 2 / static_cast<double>(m);
  }
  return (t / static_cast<double>(subsets.size()) / static_cast<double>(m)).item<double>();
}

std::vector<KidSubset> draw_kid_subsets(std::int64_t n1, std::int64_t n2, std::int64_t num_subsets, std::int64_t max_subset_size,
                                        std::uint64_t seed) {
  if (num_subsets < 1 || max_subset_size < 2) throw InputError("kid", "need num_subsets >= 1 and max_subset_size >= 2");
  const std::int64_t m = std::min({n1, n2, max_subset_size});
  auto gen = rng::cpu_generator(seed);
  auto pick = [&](std::int64_t n) {
    const at::Tensor p = at::randperm(n, gen, at::kLong).slice(0, 0, m);
    return std::vector<std::int64_t>(p.data_ptr<std::int64_t>(), p.data_ptr<std::int64_t>() + m);
  };
  std::vector<KidSubset> out;
  for (std::int64_t i = 0; i < num_subsets; ++i) {
    KidSubset s;
    s.rows2 = pick(n2);  // feats2 first, as clean-fid
    s.rows1 = pick(n1);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace diffedit::metrics
