// Cost of one toy-sd training step, by part, with the shipped config (configs/train/toy-sd.json,
// which conditions on toy-clip's frozen text tower) and the jointly trained text encoder of
// configs/train/toy-sd-joint.json:
//   build/tests/bench/bench_training
// Parts: toy-world batch generation (item by item, and in parallel as the trainers do), text encoder forward (frozen) or forward+backward
// (joint), UNet forward+backward, optimizer + EMA update. Batch 64 unless the benchmark's argument says otherwise.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/optim.h>

#include "core/config.h"
#include "data/toyworld.h"
#include "models/clip_text.h"
#include "models/unet2d_condition.h"
#include "text/clip_tokenizer.h"
#include "training/loop.h"
#include "training/train_toy_sd.h"

namespace models = diffedit::models;
using diffedit::config::Json;

namespace {
Json shipped() { return diffedit::config::load_json(DIFFEDIT_SOURCE_DIR "/configs/train/toy-sd.json"); }
models::CLIPTextConfig joint_text_config() {
  return models::CLIPTextConfig::from_json(
      diffedit::config::load_json(DIFFEDIT_SOURCE_DIR "/configs/train/toy-sd-joint.json")["text_encoder"], "config");
}
models::CLIPTextConfig frozen_text_config() {
  return diffedit::training::frozen_text_encoder(DIFFEDIT_SOURCE_DIR "/models/toy-clip").config;
}
at::Tensor caption_ids(std::int64_t batch) {
  const auto tokenizer = diffedit::text::CLIPTokenizer::load(DIFFEDIT_SOURCE_DIR "/models/clip-tokenizer");
  return tokenizer.encode_batch(std::vector<std::string>(batch, "a red circle above a blue square on a striped background"));
}

void ToyWorldBatch(benchmark::State& state) {
  std::int64_t i = 0;
  for (auto _ : state)
    for (std::int64_t b = 0; b < state.range(0); ++b) benchmark::DoNotOptimize(diffedit::data::toyworld::generate("train", i++));
}
BENCHMARK(ToyWorldBatch)->Arg(64)->Unit(benchmark::kMillisecond);

// What a training step does: the same items rendered on the intra-op threads (generate_batch).
void ToyWorldBatchParallel(benchmark::State& state) {
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(diffedit::data::toyworld::generate_batch("train", i, state.range(0)));
    i += state.range(0);
  }
}
BENCHMARK(ToyWorldBatchParallel)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void TextEncoderFrozenForward(benchmark::State& state) {
  models::CLIPTextModel text(frozen_text_config(), false);
  const at::Tensor ids = caption_ids(state.range(0));
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(text->prompt_embeds(ids));
}
BENCHMARK(TextEncoderFrozenForward)->Arg(64)->Unit(benchmark::kMillisecond);

void TextEncoderJointTrainStep(benchmark::State& state) {
  models::CLIPTextModel text(joint_text_config(), false);
  const at::Tensor ids = caption_ids(state.range(0));
  for (auto _ : state) {
    text->zero_grad();
    text->prompt_embeds(ids).sum().backward();
  }
}
BENCHMARK(TextEncoderJointTrainStep)->Arg(64)->Unit(benchmark::kMillisecond);

// Arguments: batch, and the width of the UNet's first (16x16) level, where most of its FLOPs are:
// 32 is the shipped toy-sd's, 64 the wider variant measured in models/README.md (not shipped).
// Batches 16 and 32 give the cost per sample of smaller batches (items/s; models/README.md).
void UNetTrainStep(benchmark::State& state) {
  Json c = shipped();
  c["unet"]["block_out_channels"][0] = state.range(1);
  models::UNet2DConditionModel unet(models::UNetConfig::from_json(c["unet"], "config"));
  const std::int64_t b = state.range(0);
  const auto& u = c["unet"];
  const at::Tensor x = at::randn({b, u["in_channels"].get<std::int64_t>(), 16, 16});
  const at::Tensor ctx = at::randn({b, 77, u["cross_attention_dim"].get<std::int64_t>()});
  const at::Tensor t = at::randint(0, 1000, {b}, at::kLong);
  for (auto _ : state) {
    unet->zero_grad();
    at::mse_loss(unet->forward(x, t, ctx), x).backward();
  }
  state.SetItemsProcessed(state.iterations() * b);
}
BENCHMARK(UNetTrainStep)->Args({16, 32})->Args({32, 32})->Args({64, 32})->Args({64, 64})->Unit(benchmark::kMillisecond);

// The same step with weights and activations in bfloat16: an upper bound on what mixed precision
// could buy on CPUs with bf16 matrix units (measured 1.3x on a 2-vCPU Sapphire Rapids VM, too
// little to pay for fp32 master weights and casts, so training stays float32).
void UNetTrainStepBF16(benchmark::State& state) {
  const Json c = shipped();
  models::UNet2DConditionModel unet(models::UNetConfig::from_json(c["unet"], "config"));
  unet->to(at::kBFloat16);
  const std::int64_t b = state.range(0);
  const auto& u = c["unet"];
  const at::Tensor x = at::randn({b, u["in_channels"].get<std::int64_t>(), 16, 16}, at::kBFloat16);
  const at::Tensor ctx = at::randn({b, 77, u["cross_attention_dim"].get<std::int64_t>()}, at::kBFloat16);
  const at::Tensor t = at::randint(0, 1000, {b}, at::kLong);
  for (auto _ : state) {
    unet->zero_grad();
    (unet->forward(x, t, ctx) - x).pow(2).mean().backward();  // mse_loss has no bf16 CPU kernel
  }
}
BENCHMARK(UNetTrainStepBF16)->Arg(64)->Unit(benchmark::kMillisecond);

void UNetForwardOnly(benchmark::State& state) {
  const Json c = shipped();
  models::UNet2DConditionModel unet(models::UNetConfig::from_json(c["unet"], "config"));
  torch::NoGradGuard no_grad;
  const std::int64_t b = state.range(0);
  const auto& u = c["unet"];
  const at::Tensor x = at::randn({b, u["in_channels"].get<std::int64_t>(), 16, 16});
  const at::Tensor ctx = at::randn({b, 77, u["cross_attention_dim"].get<std::int64_t>()});
  const at::Tensor t = at::randint(0, 1000, {b}, at::kLong);
  for (auto _ : state) benchmark::DoNotOptimize(unet->forward(x, t, ctx));
}
BENCHMARK(UNetForwardOnly)->Arg(2)->Arg(64)->Unit(benchmark::kMillisecond);

// Argument 0: the UNet alone (shipped, frozen text encoder); 1: UNet and joint text encoder.
void OptimizerAndEma(benchmark::State& state) {
  const Json c = shipped();
  models::UNet2DConditionModel unet(models::UNetConfig::from_json(c["unet"], "config"));
  models::CLIPTextModel text(joint_text_config(), false);
  models::UNet2DConditionModel unet_ema(models::UNetConfig::from_json(c["unet"], "config"));
  std::vector<at::Tensor> params = unet->parameters();
  if (state.range(0))
    for (const auto& p : text->parameters()) params.push_back(p);
  for (auto& p : params) p.mutable_grad() = at::randn_like(p);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(1e-3));
  std::int64_t step = 0;
  for (auto _ : state) {
    optimizer.step();
    diffedit::training::ema_update(*unet_ema, *unet, 0.999, step++);
  }
}
BENCHMARK(OptimizerAndEma)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
}  // namespace
