// The README's main job as a benchmark: `diffedit run configs/quickstart.json` in-process (a fresh
// results directory each iteration, no feature cache), from the source tree's root.
// BM_Quickstart counters: denoiser evaluations done / if every setting ran alone, their ratio,
// peak_rss_MB (getrusage ru_maxrss of the process: model loading included) and the thread count.
// BM_QuickstartDecodeBatch/N: the same with decode_batch = N.
// BM_QuickstartPooledItems/K: with K items' decodings pooled (batch_items = K).
// BM_QuickstartBesideBusyProcesses/N: threads under contention. The quickstart on its first item
// (20 records) alone, then beside N forked processes that spin on one core each; the benchmark's
// time is the run beside them, its counters both times and their ratio (`slowdown`), and the
// thread count the run chose (the CLI's default: core/resources.h). OMP_NUM_THREADS=N compares
// another count.
//   build/tests/bench/bench_runner
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include "core/config.h"
#include "core/resources.h"
#include "eval/experiment.h"
#include "eval/runner.h"

namespace {

// configs/quickstart.json with `overrides`, resolved from the source tree's root, with the CLI's
// thread choice (no --threads); nullopt (the benchmark skipped) when the tree cannot be entered.
std::optional<diffedit::eval::Experiment> quickstart(benchmark::State& state, const std::vector<std::string>& overrides) {
  if (::chdir(DIFFEDIT_SOURCE_DIR) != 0) {
    state.SkipWithError("cannot enter the source tree");
    return std::nullopt;
  }
  diffedit::resources::choose_threads(0);
  const auto config = diffedit::config::resolve("configs/quickstart.json", overrides, &diffedit::eval::experiment_schema());
  return diffedit::eval::make_experiment(config, "configs/quickstart.json");
}

// One quiet run of `experiment` into a fresh `out`: its summary.
diffedit::config::Json run_into(const diffedit::eval::Experiment& experiment, const std::filesystem::path& out) {
  std::filesystem::remove_all(out);
  diffedit::eval::RunOptions o;
  o.out = out;
  o.quiet = true;
  return diffedit::eval::run_experiment(experiment, o);
}

void run_quickstart(benchmark::State& state, const std::vector<std::string>& overrides) {
  const auto experiment = quickstart(state, overrides);
  if (!experiment) return;
  const auto out = std::filesystem::temp_directory_path() / ("bench-quickstart-" + std::to_string(::getpid()));
  diffedit::config::Json summary;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(out);
    state.ResumeTiming();
    summary = run_into(*experiment, out);
  }
  std::filesystem::remove_all(out);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["evaluations"] = summary["denoiser_evaluations"].get<double>();
  state.counters["evaluations_if_independent"] = summary["denoiser_evaluations_if_independent"].get<double>();
  state.counters["sharing_ratio"] = summary["sharing_ratio"].get<double>();
  state.counters["peak_rss_MB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
  state.counters["threads"] = at::get_num_threads();
}

void BM_Quickstart(benchmark::State& state) { run_quickstart(state, {}); }
BENCHMARK(BM_Quickstart)->Unit(benchmark::kSecond)->Iterations(1);

// The same with the DiffEdit family's decodings of each input batched, N per denoiser call
// (the config's decode_batch; the quickstart has 16 such settings per input).
void BM_QuickstartDecodeBatch(benchmark::State& state) { run_quickstart(state, {"decode_batch=" + std::to_string(state.range(0))}); }
BENCHMARK(BM_QuickstartDecodeBatch)->Arg(4)->Arg(16)->Unit(benchmark::kSecond)->Iterations(1);

// BM_QuickstartPooledItems/K: decode_batch = 16 * K with batch_items = K: the decodings of K
// inputs per denoiser call (the size a GPU wants; on the CPU the gain is the per-call overhead).
void BM_QuickstartPooledItems(benchmark::State& state) {
  run_quickstart(state, {"decode_batch=" + std::to_string(16 * state.range(0)), "batch_items=" + std::to_string(state.range(0))});
}
BENCHMARK(BM_QuickstartPooledItems)->Arg(2)->Arg(4)->Unit(benchmark::kSecond)->Iterations(1);

// Seconds of one run of `experiment` into a fresh `out`.
double timed_run(const diffedit::eval::Experiment& experiment, const std::filesystem::path& out) {
  const auto start = std::chrono::steady_clock::now();
  run_into(experiment, out);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A child process that spins until it is killed (or its parent dies).
pid_t start_busy_process() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) asm volatile("" ::: "memory");  // a loop the compiler keeps
  }
  return pid;
}

void BM_QuickstartBesideBusyProcesses(benchmark::State& state) {
  const auto experiment = quickstart(state, {"dataset.limit=1"});
  if (!experiment) return;
  const auto out = std::filesystem::temp_directory_path() / ("bench-contention-" + std::to_string(::getpid()));
  double alone = 0, beside = 0;
  for (auto _ : state) {
    timed_run(*experiment, out);  // warm-up: first-touch allocations, page cache
    alone = timed_run(*experiment, out);
    std::vector<pid_t> busy;
    for (std::int64_t i = 0; i < state.range(0); ++i) busy.push_back(start_busy_process());
    beside = timed_run(*experiment, out);
    for (const pid_t pid : busy) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    state.SetIterationTime(beside);
  }
  std::filesystem::remove_all(out);
  state.counters["alone_s"] = alone;
  state.counters["beside_s"] = beside;
  state.counters["slowdown"] = beside / alone;
  state.counters["threads"] = at::get_num_threads();
}
BENCHMARK(BM_QuickstartBesideBusyProcesses)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
