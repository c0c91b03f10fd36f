// The pipeline loader and txt2img on a tiny pipeline assembled from the fixtures.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/version.h"
#include "image/io.h"
#include "pipelines/pipeline.h"
#include "pipelines/txt2img.h"
#include "test_support.h"
#include "tiny_pipeline.h"

namespace pl = diffedit::pipelines;
using diffedit::testing::make_tiny_pipeline;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;

TEST(Pipeline, LoadsAndBatchesGuidanceIntoOneCall) {
  ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(make_tiny_pipeline(scratch / "tiny"));
  const at::Tensor cond = sd.encode_prompts({"a red circle"});
  const at::Tensor uncond = sd.encode_prompts({""});
  const std::int64_t width = sd.text_encoder->config().hidden_size, latent = sd.unet->config().sample_size;
  EXPECT_EQ(cond.sizes(), (at::IntArrayRef{1, 77, width}));
  at::manual_seed(0);
  const at::Tensor x = at::randn({1, sd.unet->config().in_channels, latent, latent});
  torch::NoGradGuard no_grad;
  const at::Tensor t = at::scalar_tensor(501, at::kLong);
  const at::Tensor e_c = sd.unet->forward(x, t, cond), e_u = sd.unet->forward(x, t, uncond);
  const std::int64_t before = sd.denoiser.evaluations();
  const at::Tensor guided = sd.denoiser.guided(x, 501, cond, uncond, 7.5);
  EXPECT_EQ(sd.denoiser.evaluations() - before, 2) << "a guided pair counts 2 evaluations";
  EXPECT_TRUE(at::allclose(guided, e_u + (e_c - e_u) * 7.5, 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(sd.denoiser.guided(x, 501, cond, uncond, 1.0), e_c, 1e-5, 1e-6)) << "g = 1: conditional only";
  EXPECT_EQ(sd.denoiser.evaluations() - before, 3);

  // encode/decode go through [0, 1] images and the scaling factor.
  const std::int64_t side = latent * sd.vae_scale_factor();
  const at::Tensor img = at::rand({1, 3, side, side});
  const auto dist = sd.encode(img);
  EXPECT_EQ(dist.mean.sizes(), x.sizes());
  EXPECT_TRUE(at::allclose(sd.to_latents(dist), dist.mean * sd.scaling_factor()));
  const at::Tensor back = sd.decode(sd.to_latents(dist));
  EXPECT_EQ(back.sizes(), img.sizes());
  EXPECT_GE(back.min().item<float>(), 0.0f);
  EXPECT_LE(back.max().item<float>(), 1.0f);
}

TEST(Pipeline, LoaderNamesTheBrokenPart) {
  ScratchDir scratch;
  const auto dir = make_tiny_pipeline(scratch / "tiny");
  auto error = [&]() -> std::string {
    try {
      pl::StableDiffusion::load(dir);
    } catch (const diffedit::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  std::filesystem::remove(dir / "vae" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(error(), (dir / "vae").string() + ": no diffusion_pytorch_model.safetensors");
  std::filesystem::remove(dir / "model_index.json");
  EXPECT_EQ(error(), (dir / "model_index.json").string() + ": no such file");
  diffedit::testing::write_bytes(dir / "model_index.json", R"({"unet": ["diffusers", "UNet2DModel"]})");
  EXPECT_EQ(error(), (dir / "model_index.json").string() + ": 'unet' is a UNet2DModel; supported: UNet2DConditionModel");
  EXPECT_THROW(pl::parse_dtype("float64"), diffedit::InputError);
  EXPECT_THROW(pl::check_device_dtype(c10::kCPU, c10::kHalf), diffedit::InputError);
}

TEST(Pipeline, DeviceNamesAreChecked) {
  EXPECT_EQ(diffedit::parse_device("cpu"), c10::Device(c10::kCPU));
  const auto message = [](const std::string& name) {
    try {
      diffedit::parse_device(name, "--device");
    } catch (const diffedit::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("gpu"), "--device: 'gpu' is not a device (cpu, cuda, cuda:N)");
  EXPECT_EQ(message("meta"), "--device: only cpu and cuda are supported");
  if (torch::cuda::is_available()) {
    EXPECT_EQ(diffedit::parse_device("cuda:0"), c10::Device(c10::kCUDA, 0));
    EXPECT_EQ(message("cuda:99").rfind("--device: cuda:99: only ", 0), 0u) << message("cuda:99");
  } else {
    EXPECT_EQ(message("cuda"), "--device: CUDA requested but not available (this libtorch has no CUDA, or no GPU is visible)");
  }
}

TEST(Pipeline, Txt2ImgIsDeterministicPerSeed) {
  ScratchDir scratch;
  auto sd = pl::StableDiffusion::load(make_tiny_pipeline(scratch / "tiny"));
  pl::Txt2ImgRequest r{.prompt = "a red circle above a blue square", .steps = 4, .guidance = 7.5, .seed = 3};
  std::int64_t steps_seen = 0;
  const auto a = pl::txt2img(sd, r, [&](std::int64_t i, std::int64_t n) {
    steps_seen = i;
    EXPECT_EQ(n, 4);
  });
  EXPECT_EQ(steps_seen, 4);
  EXPECT_EQ(a.denoiser_evaluations, 8) << "one guided pair per step";
  const std::int64_t side = sd.unet->config().sample_size * sd.vae_scale_factor();
  EXPECT_EQ(a.image.sizes(), (at::IntArrayRef{3, side, side}));
  EXPECT_TRUE(at::equal(pl::txt2img(sd, r).image, a.image)) << "same seed, same image";
  r.seed = 4;
  EXPECT_FALSE(at::equal(pl::txt2img(sd, r).image, a.image));
  r.eta = 1.0;
  EXPECT_TRUE(at::isfinite(pl::txt2img(sd, r).image).all().item<bool>());
}

TEST(Cli, Txt2ImgWritesImageAndRecord) {
  ScratchDir scratch;
  const auto dir = make_tiny_pipeline(scratch / "tiny");
  const auto out = (scratch / "out.png").string();
  const auto r = run_cli({"--quiet", "txt2img", "--model", dir.string(), "--prompt", "a red circle", "--steps", "3", "--guidance", "7.5",
                          "--seed", "5", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto record = diffedit::config::load_json(out + ".json");
  EXPECT_EQ(diffedit::image::read(out).sizes(),
            (at::IntArrayRef{3, record["height"].get<std::int64_t>(), record["width"].get<std::int64_t>()}));
  EXPECT_EQ(record["seed"], 5);
  EXPECT_EQ(record["steps"], 3);
  EXPECT_EQ(record["denoiser_evaluations"], 6);
  EXPECT_EQ(record["git_revision"], std::string(diffedit::git_revision()));
  const auto again = (scratch / "again.png").string();
  ASSERT_EQ(run_cli({"--quiet", "txt2img", "--model", dir.string(), "--prompt", "a red circle", "--steps", "3", "--guidance", "7.5",
                     "--seed", "5", "--out", again})
                .exit_code,
            0);
  EXPECT_EQ(diffedit::testing::read_bytes(again), diffedit::testing::read_bytes(out)) << "deterministic on CPU";

  const auto bad = run_cli({"txt2img", "--model", dir.string(), "--prompt", "x", "--device", "cuda", "--out", out});
  if (!at::hasCUDA()) {
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_EQ(bad.err, "error: --device: CUDA requested but not available (this libtorch has no CUDA, or no GPU is visible)\n");
  }
  const auto empty = run_cli({"txt2img", "--model", dir.string(), "--prompt", "", "--out", out});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_EQ(empty.err, "error: --prompt: the prompt is empty\n");
  const auto missing = run_cli({"txt2img", "--model", (scratch / "nope").string(), "--prompt", "x", "--out", out});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "error: " + (scratch / "nope" / "model_index.json").string() + ": no such file\n");
}

TEST(Pipeline, Bfloat16OnCpuTracksFloat32) {
  ScratchDir scratch;
  const auto dir = make_tiny_pipeline(scratch / "tiny");
  auto f32 = pl::StableDiffusion::load(dir);
  auto bf16 = pl::StableDiffusion::load(dir, {.dtype = c10::kBFloat16});
  EXPECT_EQ(bf16.unet->parameters()[0].scalar_type(), c10::kBFloat16);
  const pl::Txt2ImgRequest r{.prompt = "a red circle", .steps = 3, .guidance = 3.0, .seed = 1};
  const at::Tensor a = pl::txt2img(f32, r).image, b = pl::txt2img(bf16, r).image;
  EXPECT_TRUE(at::isfinite(b).all().item<bool>());
  // bfloat16 keeps 8 bits of mantissa: images agree to a few percent of the range.
  EXPECT_LT((a - b).abs().mean().item<float>(), 0.05f);
}
