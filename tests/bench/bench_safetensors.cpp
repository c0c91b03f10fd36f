// Reading cost of checkpoints: header validation + mapping, and loading every tensor.
//   build/tests/bench/bench_safetensors --benchmark_counters_tabular=true
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <filesystem>

#include "core/safetensors.h"

namespace st = diffedit::safetensors;

namespace {
// A UNet-like file: `count` tensors of `elements` floats each.
std::filesystem::path make_file(int count, int elements) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("diffedit-bench-" + std::to_string(count) + "x" + std::to_string(elements) + ".safetensors");
  if (!std::filesystem::exists(path)) {
    st::TensorMap tensors;
    for (int i = 0; i < count; ++i) tensors["block." + std::to_string(i) + ".weight"] = at::randn({elements});
    st::write(path, tensors);
  }
  return path;
}
}  // namespace

static void BM_OpenValidate(benchmark::State& state) {
  const auto path = make_file(static_cast<int>(state.range(0)), 1024);
  for (auto _ : state) benchmark::DoNotOptimize(st::File::open(path).tensors().size());
  state.counters["tensors"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_OpenValidate)->Arg(100)->Arg(700)->Arg(5000)->Unit(benchmark::kMicrosecond);

static void BM_LoadAllAndTouch(benchmark::State& state) {
  const int elements = static_cast<int>(state.range(0));
  const auto path = make_file(64, elements);
  for (auto _ : state) {
    const auto file = st::File::open(path);
    double sum = 0;
    for (const auto& t : file.tensors()) sum += file.tensor(t.name).sum().item<double>();
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * 64LL * elements * 4);
}
BENCHMARK(BM_LoadAllAndTouch)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
