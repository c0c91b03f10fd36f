// Cost of one edit per method on the embedded toy models (one 32x32 toy-imagenet class edit, the
// methods' default settings unless the name says otherwise), the cost comparison a user of the
// baselines asks for: DiffEdit vs SDEdit vs ILVR vs FlexIT per image.
//   build/tests/bench/bench_methods [--benchmark_filter=FlexIT]
// Counters: denoiser_evaluations per edit (UNet calls; a classifier-free-guided step counts 2) and
// flexit_iterations where it applies. Threads: libtorch's setting (pass OMP_NUM_THREADS=N).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <string>

#include "core/config.h"
#include "data/toy_datasets.h"
#include "data/toyworld_presets.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "eval/edit_request.h"
#include "pipelines/pipeline.h"

namespace ed = diffedit::editing;
using diffedit::config::Json;

namespace {

std::string models(const std::string& name) { return std::string(DIFFEDIT_SOURCE_DIR) + "/models/" + name; }

diffedit::pipelines::StableDiffusion& toy_sd() {
  static auto sd = diffedit::pipelines::StableDiffusion::load(models("toy-sd"));
  return sd;
}

ed::EditRequest toy_request() {
  const auto world = diffedit::data::toyworld::preset(diffedit::data::toyworld::kDefaultPreset);  // the shipped models' world
  return diffedit::eval::request_for(diffedit::data::make_toy_dataset("toy-imagenet", "test", 1, 0, {}, world)->get(0), 7);
}

void run_method(benchmark::State& state, const std::string& method, const Json& parameters) {
  auto& sd = toy_sd();
  const auto request = toy_request();
  const auto m = ed::make_method(method, parameters, "bench");
  std::int64_t evaluations = 0;
  for (auto _ : state) {
    ed::SeededNoise noise(request.seed);
    const auto result = m->edit(sd, request, noise);
    evaluations = result.denoiser_evaluations;
    benchmark::DoNotOptimize(result.image.data_ptr());
  }
  state.counters["denoiser_evaluations"] = static_cast<double>(evaluations);
}

void DiffEdit(benchmark::State& state) { run_method(state, "diffedit", {{"strength", 0.5}}); }
void SDEdit(benchmark::State& state) { run_method(state, "sdedit", {{"strength", 0.5}}); }
void ILVR(benchmark::State& state) { run_method(state, "ilvr", Json::object()); }
// FlexIT's cost grows linearly with its iterations (each: decode, CLIP image tower and LPIPS
// forward and backward); the argument is the iteration count.
void FlexIT(benchmark::State& state) {
  run_method(state, "flexit",
             {{"iterations", state.range(0)},
              {"clip_models", {models("toy-clip")}},
              {"lpips", {{"name", "toy-classifier"}, {"weights", models("toy-classifier")}}}});
  state.counters["flexit_iterations"] = static_cast<double>(state.range(0));
}

}  // namespace

BENCHMARK(DiffEdit)->Unit(benchmark::kMillisecond);
BENCHMARK(SDEdit)->Unit(benchmark::kMillisecond);
BENCHMARK(ILVR)->Unit(benchmark::kMillisecond);
BENCHMARK(FlexIT)->Arg(20)->Arg(160)->Unit(benchmark::kMillisecond);
