// The README's main job as a benchmark: `diffedit run configs/quickstart.json` in-process (a fresh
// results directory each iteration, no feature cache), from the source tree's root.
// Counters: denoiser evaluations done / if every setting ran alone, their ratio, and peak_rss_MB
// (getrusage ru_maxrss of the process: model loading included).
//   build/tests/bench/bench_runner
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include "core/config.h"
#include "eval/experiment.h"
#include "eval/runner.h"

namespace {

void BM_Quickstart(benchmark::State& state) {
  if (::chdir(DIFFEDIT_SOURCE_DIR) != 0) {
    state.SkipWithError("cannot enter the source tree");
    return;
  }
  const auto config = diffedit::config::resolve("configs/quickstart.json", {}, &diffedit::eval::experiment_schema());
  const auto experiment = diffedit::eval::make_experiment(config, "configs/quickstart.json");
  const auto out = std::filesystem::temp_directory_path() / ("bench-quickstart-" + std::to_string(::getpid()));
  diffedit::config::Json summary;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(out);
    state.ResumeTiming();
    diffedit::eval::RunOptions o;
    o.out = out;
    o.quiet = true;
    summary = diffedit::eval::run_experiment(experiment, o);
  }
  std::filesystem::remove_all(out);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["evaluations"] = summary["denoiser_evaluations"].get<double>();
  state.counters["evaluations_if_independent"] = summary["denoiser_evaluations_if_independent"].get<double>();
  state.counters["sharing_ratio"] = summary["sharing_ratio"].get<double>();
  state.counters["peak_rss_MB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_Quickstart)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
