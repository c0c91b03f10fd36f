// Speed and memory of the native networks with random weights (architecture cost only).
//   build/tests/bench/bench_models --benchmark_filter=Tiny
//   build/tests/bench/bench_models --benchmark_filter=UNetSD15     (one process per heavy case:
//   build/tests/bench/bench_models --benchmark_filter=VAEDecode512  peak RSS is per process)
// Counters: peak_rss_MB (getrusage ru_maxrss of the process so far), params_M.
//
// The UNet cases read (scripts/gpu-check.sh sets them; unset, they run as above):
//   DIFFEDIT_BENCH_DEVICE      cpu (default), cuda, cuda:N: on CUDA one untimed call first, and each
//                              timed call waits for the GPU (torch::cuda::synchronize)
//   DIFFEDIT_BENCH_DTYPE       float32 (default), float16, bfloat16: weights and inputs
//   DIFFEDIT_BENCH_MODEL       UNetSD15: a diffusers model directory whose unet/ is loaded instead
//                              of random weights (the same weights diffusers is timed with)
//   DIFFEDIT_BENCH_LATENT      UNetSD15: the latent side (default 64, i.e. 512x512 images)
//   DIFFEDIT_BENCH_ITERATIONS  UNetSD15: timed calls (default 1)
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_env.h"
#include "core/config.h"
#include "models/autoencoder_kl.h"
#include "models/unet2d_condition.h"
#include "text/clip_tokenizer.h"

namespace models = diffedit::models;
using diffedit::config::Json;

namespace {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double params_m(torch::nn::Module& m) {
  double n = 0;
  for (const auto& p : m.parameters()) n += static_cast<double>(p.numel());
  return n / 1e6;
}

Json sd_unet(const std::vector<int>& channels, int cross_dim, int heads, int groups, int sample) {
  return {{"block_out_channels", channels},
          {"cross_attention_dim", cross_dim},
          {"attention_head_dim", heads},
          {"norm_num_groups", groups},
          {"sample_size", sample},
          {"layers_per_block", 2},
          {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
          {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}}};
}

// Batch 2 (a guided call) with a 77-token context, on DIFFEDIT_BENCH_DEVICE in DIFFEDIT_BENCH_DTYPE;
// random weights of `config` unless `model_dir` is given.
void run_unet(benchmark::State& state, const Json& config, std::int64_t latent, const std::string& model_dir = "") {
  torch::NoGradGuard no_grad;
  const c10::Device device = diffedit::bench::device();
  const c10::ScalarType dtype = diffedit::bench::dtype();
  diffedit::pipelines::check_device_dtype(device, dtype);
  at::manual_seed(0);
  models::UNet2DConditionModel unet =
      model_dir.empty() ? models::UNet2DConditionModel(models::UNetConfig::from_json(config, "bench")) : models::load_unet(model_dir);
  unet->eval();
  unet->to(device, dtype);
  const at::Tensor x = at::randn({2, 4, latent, latent}).to(device, dtype);
  const at::Tensor t = at::scalar_tensor(501, at::kLong).to(device);
  const at::Tensor ctx = at::randn({2, 77, unet->config().cross_attention_dim}).to(device, dtype);
  if (device.is_cuda()) {  // CUDA's lazy initialisation and cuDNN's algorithm choice, untimed
    unet->forward(x, t, ctx);
    diffedit::bench::sync(device);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(unet->forward(x, t, ctx).data_ptr());
    diffedit::bench::sync(device);
  }
  state.counters["params_M"] = params_m(*unet);
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.SetLabel(device.str() + " " + c10::toString(dtype) + (model_dir.empty() ? "" : " " + model_dir));
}

}  // namespace

// The unet_sd1_tiny fixture architecture: batch 2, 16x16 latent, 77-token context of width 32.
static void BM_UNetTiny(benchmark::State& state) { run_unet(state, sd_unet({32, 32, 64, 64}, 32, 8, 8, 16), 16); }
BENCHMARK(BM_UNetTiny)->Unit(benchmark::kMillisecond);

// Stable Diffusion 1.5's UNet (860M parameters): batch 2 (CFG), 64x64 latent (512x512 images).
static void BM_UNetSD15(benchmark::State& state) {
  const std::string dir = diffedit::bench::env_or("DIFFEDIT_BENCH_MODEL", "");
  run_unet(state, sd_unet({320, 640, 1280, 1280}, 768, 8, 32, 64), diffedit::bench::env_int("DIFFEDIT_BENCH_LATENT", 64),
           dir.empty() ? "" : (std::filesystem::path(dir) / "unet").string());
}
BENCHMARK(BM_UNetSD15)->Unit(benchmark::kSecond)->Iterations(diffedit::bench::env_int("DIFFEDIT_BENCH_ITERATIONS", 1));

// Stable Diffusion's VAE decoder: 4x64x64 latent -> 3x512x512 image.
static void BM_VAEDecode512(benchmark::State& state) {
  torch::NoGradGuard no_grad;
  const Json config = {{"block_out_channels", {128, 256, 512, 512}},
                       {"down_block_types", std::vector<std::string>(4, "DownEncoderBlock2D")},
                       {"up_block_types", std::vector<std::string>(4, "UpDecoderBlock2D")},
                       {"layers_per_block", 2},
                       {"norm_num_groups", 32},
                       {"latent_channels", 4},
                       {"sample_size", 512}};
  models::AutoencoderKL vae(models::VAEConfig::from_json(config, "bench"));
  vae->eval();
  at::manual_seed(0);
  const at::Tensor z = at::randn({1, 4, 64, 64});
  for (auto _ : state) benchmark::DoNotOptimize(vae->decode(z).data_ptr());
  state.counters["params_M"] = params_m(*vae);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_VAEDecode512)->Unit(benchmark::kSecond)->Iterations(1);

// Tokenizer throughput on prompt-like text (the real CLIP vocabulary from the clip-v1 fixture).
static void BM_TokenizerTiny(benchmark::State& state) {
  const char* env = std::getenv("DIFFEDIT_FIXTURES");
  const std::filesystem::path root = env ? env : std::filesystem::path(DIFFEDIT_SOURCE_DIR) / ".." / "shared" / "fixtures";
  const auto tokenizer = diffedit::text::CLIPTokenizer::load(root / "clip-v1" / "tokenizer");
  const std::vector<std::string> prompts = {
      "a photograph of an astronaut riding a horse", "a red circle above a blue square on a striped background",
      "a highly detailed matte painting of a castle on a hill at sunset, volumetric lighting, octane render",
      "portrait, oil painting, by greg rutkowski, trending on artstation", "a bowl of fruit"};
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.encode(prompts[i++ % prompts.size()]).ids.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenizerTiny)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
