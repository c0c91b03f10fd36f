// Cost of one edit per method on the embedded toy models (one 32x32 toy-imagenet class edit, the
// methods' default settings unless the name says otherwise), the cost comparison a user of the
// baselines asks for: DiffEdit vs SDEdit vs ILVR vs FlexIT per image.
//   build/tests/bench/bench_methods [--benchmark_filter=FlexIT]
// Counters: denoiser_evaluations per edit (UNet calls; a classifier-free-guided step counts 2) and
// flexit_iterations where it applies. Threads: libtorch's setting (pass OMP_NUM_THREADS=N).
// DiffEditModelDir times one full edit on a model directory instead (scripts/gpu-check.sh):
//   DIFFEDIT_BENCH_MODEL=DIR|random-sd15 [DIFFEDIT_BENCH_DEVICE=cuda] [DIFFEDIT_BENCH_DTYPE=float16]
//   [DIFFEDIT_BENCH_ITERATIONS=N] build/tests/bench/bench_methods --benchmark_filter=DiffEditModelDir
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <string>

#include "bench_env.h"
#include "core/config.h"
#include "data/toy_datasets.h"
#include "data/toyworld_presets.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "eval/edit_request.h"
#include "pipelines/pipeline.h"
#include "text/clip_tokenizer.h"

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
// PIE-Bench's two-branch editors at r = 1 (50 steps), on the toy UNet's equivalent layers
// (configs/toy/piebench.json): per edit the inversion, then 4 (P2P, MasaCtrl) or 3 (PnP, after
// its reconstruction pass) rows per step.
void P2P(benchmark::State& state) {
  run_method(state, "p2p", {{"strength", 1.0}, {"edit", "refine"}, {"cross_replace_steps", 0.4}, {"self_replace_steps", 0.6}});
}
void MasaCtrl(benchmark::State& state) { run_method(state, "masactrl", {{"strength", 1.0}, {"start_layer", 5}}); }
void PnP(benchmark::State& state) {
  run_method(state, "pnp", {{"strength", 1.0}, {"feature_resnet", {0, 1}}, {"attention_from", {0, 1}}, {"negative_prompt", ""}});
}
// FlexIT's cost grows linearly with its iterations (each: decode, CLIP image tower and LPIPS
// forward and backward); the argument is the iteration count.
void FlexIT(benchmark::State& state) {
  run_method(state, "flexit",
             {{"iterations", state.range(0)},
              {"clip_models", {models("toy-clip")}},
              {"lpips", {{"name", "toy-classifier"}, {"weights", models("toy-classifier")}}}});
  state.counters["flexit_iterations"] = static_cast<double>(state.range(0));
}

// Stable Diffusion 1.5's shapes (UNet, VAE, CLIP ViT-L/14 text tower; 512x512 images) with random
// weights, built in memory as StableDiffusion::load builds a directory's: DiffEditModelDir's
// DIFFEDIT_BENCH_MODEL=random-sd15, for a machine where no diffusers directory could be written.
diffedit::pipelines::StableDiffusion random_sd15(c10::Device device, c10::ScalarType dtype) {
  namespace m = diffedit::models;
  const std::string source = "random-sd15";
  diffedit::pipelines::StableDiffusion sd;
  sd.options.device = device;
  sd.options.dtype = dtype;
  at::manual_seed(0);
  sd.unet = m::UNet2DConditionModel(m::UNetConfig::from_json(
      {{"block_out_channels", {320, 640, 1280, 1280}},
       {"cross_attention_dim", 768},
       {"attention_head_dim", 8},
       {"norm_num_groups", 32},
       {"sample_size", 64},
       {"layers_per_block", 2},
       {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
       {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}}},
      source));
  sd.vae = m::AutoencoderKL(m::VAEConfig::from_json({{"block_out_channels", {128, 256, 512, 512}},
                                                     {"down_block_types", std::vector<std::string>(4, "DownEncoderBlock2D")},
                                                     {"up_block_types", std::vector<std::string>(4, "UpDecoderBlock2D")},
                                                     {"layers_per_block", 2},
                                                     {"norm_num_groups", 32},
                                                     {"latent_channels", 4},
                                                     {"sample_size", 512},
                                                     {"scaling_factor", 0.18215}},
                                                    source));
  sd.text_encoder = m::CLIPTextModel(m::CLIPTextConfig::from_json({{"vocab_size", 49408},
                                                                   {"hidden_size", 768},
                                                                   {"intermediate_size", 3072},
                                                                   {"num_hidden_layers", 12},
                                                                   {"num_attention_heads", 12},
                                                                   {"max_position_embeddings", 77},
                                                                   {"hidden_act", "quick_gelu"}},
                                                                  source),
                                     false);
  sd.tokenizer = diffedit::text::CLIPTokenizer::load(models("clip-tokenizer"));
  sd.scheduler = diffedit::diffusion::SchedulerConfig::from_json({{"beta_start", 0.00085},
                                                                  {"beta_end", 0.012},
                                                                  {"beta_schedule", "scaled_linear"},
                                                                  {"clip_sample", false},
                                                                  {"set_alpha_to_one", false},
                                                                  {"steps_offset", 1},
                                                                  {"num_train_timesteps", 1000},
                                                                  {"prediction_type", "epsilon"}},
                                                                 source);
  sd.vae_dtype = dtype == c10::kHalf && sd.vae->config().force_upcast ? c10::kFloat : dtype;
  sd.unet->eval();
  sd.vae->eval();
  sd.text_encoder->eval();
  sd.unet->to(device, dtype);
  sd.text_encoder->to(device, dtype);
  sd.vae->to(device, sd.vae_dtype);
  sd.denoiser = diffedit::pipelines::Denoiser(sd.unet, dtype);
  return sd;
}

// One full DiffEdit edit at the native size of the pipeline in DIFFEDIT_BENCH_MODEL (a diffusers
// directory, or random-sd15; Stable Diffusion 1.5's shapes: 512x512), as diffusers' StableDiffusionDiffEditPipeline
// runs it (mode diffusers_compat: a mask from 10 samples at strength 0.5, then inversion and masked
// decoding at r = 0.8 of 50 DDIM steps, guidance 7.5), on a random image, prompts encoded by the
// pipeline's text encoder. On DIFFEDIT_BENCH_DEVICE in DIFFEDIT_BENCH_DTYPE; on CUDA one untimed
// edit first. Skipped without a model directory.
void DiffEditModelDir(benchmark::State& state) {
  const std::string dir = diffedit::bench::env_or("DIFFEDIT_BENCH_MODEL", "");
  if (dir.empty()) {
    state.SkipWithError("set DIFFEDIT_BENCH_MODEL to a diffusers model directory");
    for (auto _ : state) {
    }
    return;
  }
  const c10::Device device = diffedit::bench::device();
  auto sd = dir == "random-sd15" ? random_sd15(device, diffedit::bench::dtype())
                                 : diffedit::pipelines::StableDiffusion::load(dir, {.dtype = diffedit::bench::dtype(), .device = device});
  const std::int64_t side = sd.unet->config().sample_size * sd.vae_scale_factor();
  at::manual_seed(0);
  ed::EditRequest request;
  request.image = at::rand({1, 3, side, side});
  request.query = "a photograph of a bowl of pears";
  request.reference = "a photograph of a bowl of apples";
  const auto m = ed::make_method(
      "diffedit", {{"mode", "diffusers_compat"}, {"strength", 0.8}, {"steps", 50}, {"mask_samples", 10}, {"guidance", 7.5}}, "bench");
  auto edit = [&] {
    ed::SeededNoise noise(request.seed);
    auto result = m->edit(sd, request, noise);
    diffedit::bench::sync(device);
    return result;
  };
  if (device.is_cuda()) edit();
  std::int64_t evaluations = 0;
  for (auto _ : state) {
    const auto result = edit();
    evaluations = result.denoiser_evaluations;
    benchmark::DoNotOptimize(result.image.data_ptr());
  }
  state.counters["denoiser_evaluations"] = static_cast<double>(evaluations);
  state.counters["image_side"] = static_cast<double>(side);
  state.SetLabel(device.str() + " " + c10::toString(sd.options.dtype) + " " + dir);
}

}  // namespace

BENCHMARK(DiffEdit)->Unit(benchmark::kMillisecond);
BENCHMARK(SDEdit)->Unit(benchmark::kMillisecond);
BENCHMARK(ILVR)->Unit(benchmark::kMillisecond);
BENCHMARK(P2P)->Unit(benchmark::kMillisecond);
BENCHMARK(MasaCtrl)->Unit(benchmark::kMillisecond);
BENCHMARK(PnP)->Unit(benchmark::kMillisecond);
BENCHMARK(FlexIT)->Arg(20)->Arg(160)->Unit(benchmark::kMillisecond);
BENCHMARK(DiffEditModelDir)->Unit(benchmark::kSecond)->Iterations(diffedit::bench::env_int("DIFFEDIT_BENCH_ITERATIONS", 1));
