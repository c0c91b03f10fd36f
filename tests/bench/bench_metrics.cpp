// Speed of the metrics.
//   build/tests/bench/bench_metrics --benchmark_filter=Frechet
// FrechetDistance/2048: two 2048-d statistics from 10000 synthetic ReLU features each (as the
// fixture README's timing anchor: pytorch-fid's scipy sqrtm path, 49.1 s on the reference machine).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "metrics/frechet.h"

namespace m = diffedit::metrics;

namespace {
void FrechetDistance(benchmark::State& state) {
  const std::int64_t d = state.range(0);
  at::manual_seed(0);
  // Correlated ReLU features: a random linear map of Gaussian noise, rectified.
  const at::Tensor mix = at::randn({d, d}, at::kDouble) / std::sqrt(static_cast<double>(d));
  const auto a = m::feature_stats(at::relu(at::matmul(at::randn({10000, d}, at::kDouble), mix)));
  const auto b = m::feature_stats(at::relu(at::matmul(at::randn({10000, d}, at::kDouble), mix) + 0.1));
  double fd = 0;
  for (auto _ : state) fd = m::frechet_distance(a, b).distance;
  state.counters["fd"] = fd;
}
BENCHMARK(FrechetDistance)->Arg(2048)->Unit(benchmark::kMillisecond)->Iterations(3);
}  // namespace
