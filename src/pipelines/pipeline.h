// A Stable Diffusion model directory in the diffusers layout (model_index.json, unet/, vae/,
// text_encoder/, tokenizer/, scheduler/) loaded into one object: the three networks, the
// tokenizer and the scheduler config, on one device and dtype.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/scheduler_config.h"
#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/space_to_depth_codec.h"
#include "models/unet2d_condition.h"
#include "pipelines/denoiser.h"
#include "text/clip_tokenizer.h"

namespace diffedit::pipelines {

struct LoadOptions {
  std::optional<std::string> variant{};  // e.g. "fp16" -> *.fp16.safetensors
  c10::ScalarType dtype = c10::kFloat;
  c10::Device device = c10::kCPU;
};

// Parses "float32|float16|bfloat16" (InputError naming --dtype otherwise). check_device_dtype adds
// float16 on the CPU to the checks of core/device.h's check_device. Devices: core/device.h.
c10::ScalarType parse_dtype(const std::string& name);
void check_device_dtype(c10::Device device, c10::ScalarType dtype);

class StableDiffusion {
 public:
  static StableDiffusion load(const std::filesystem::path& dir, const LoadOptions& options = {});

  // Prompt embeddings [B, 77, D] (last_hidden_state, or final LN of an earlier layer with clip_skip).
  at::Tensor encode_prompts(const std::vector<std::string>& prompts, std::int64_t clip_skip = 0);

  // Images in [0, 1] <-> latents scaled by the VAE's scaling factor (as the pipelines do).
  at::Tensor decode(const at::Tensor& latents);
  // As decode, recording the graph: differentiable in `latents` (FlexIT optimises through it).
  at::Tensor decode_differentiable(const at::Tensor& latents);
  // The VAE posterior of images in [0, 1] (unscaled, float32), and latents from it: the mode, or
  // mean + std * noise, times the scaling factor (the order of diffusers' operations).
  models::LatentDistribution encode(const at::Tensor& images01);
  at::Tensor to_latents(const models::LatentDistribution& posterior, const at::Tensor& noise = {}) const;
  double scaling_factor() const { return codec ? codec->scaling_factor : vae->config().scaling_factor; }
  std::int64_t vae_scale_factor() const { return codec ? codec->factor : vae->downscale_factor(); }

  std::filesystem::path dir;
  LoadOptions options;
  models::UNet2DConditionModel unet{nullptr};
  models::AutoencoderKL vae{nullptr};               // null when the model uses a lossless codec:
  std::optional<models::SpaceToDepthConfig> codec;  // vae/ holds a SpaceToDepthCodec (toy models)
  models::CLIPTextModel text_encoder{nullptr};
  text::CLIPTokenizer tokenizer;
  diffusion::SchedulerConfig scheduler;
  c10::ScalarType vae_dtype = c10::kFloat;  // float32 when the VAE asks for upcasting (force_upcast)
  Denoiser denoiser;                        // the UNet with guidance and an evaluation count
};

}  // namespace diffedit::pipelines
