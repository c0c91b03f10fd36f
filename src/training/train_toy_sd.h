// Trains models/toy-sd: a text-to-image latent diffusion model in the Stable Diffusion layout
// (UNet2DConditionModel + CLIP text encoder, trained jointly from scratch on toy-world image /
// caption pairs, or taken frozen from a trained CLIP as Stable Diffusion does; a lossless SpaceToDepthCodec in place of the VAE). Epsilon
// or v prediction (the scheduler config's prediction_type) on its noise schedule, optional min-SNR-gamma and object weighting, conditioning
// dropout (empty prompt) for classifier-free guidance, an EMA of the weights (what is shipped), resumable checkpoints.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "diffusion/scheduler_config.h"
#include "models/clip_text.h"
#include "training/loop.h"

namespace diffedit::training {

const config::Schema& toy_sd_schema();

// Trains into `out`; at the end `out` is a diffusers-layout model directory (model_index.json,
// unet/, vae/, text_encoder/, tokenizer/, scheduler/). Relative paths in the config (tokenizer)
// are resolved against `base`. The networks run on `device`; data, timesteps and noise are drawn
// on the CPU, so a CUDA run sees the batches a CPU run sees.
TrainSummary train_toy_sd(const config::Json& config, const std::filesystem::path& out, bool resume,
                          const std::filesystem::path& base = ".", c10::Device device = c10::kCPU);

// A trained CLIP text tower to condition on, frozen (`text_encoder_from`): its config (the
// text_config of a CLIPModel directory, or a CLIPTextModel's config), as JSON and parsed, and its
// weights file. Throws naming the file when the config or the weights are missing or invalid;
// weights that do not match the config fail when train_toy_sd loads them, naming the file.
struct FrozenTextEncoder {
  config::Json json;
  models::CLIPTextConfig config;
  std::filesystem::path weights;
};
FrozenTextEncoder frozen_text_encoder(const std::filesystem::path& dir);

// Per-sample loss weights for noise levels alpha_bar (one per sample): min-SNR-gamma weighting
// (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy") of the
// epsilon or v loss; all ones when snr_gamma is 0.
at::Tensor loss_weights(const at::Tensor& alpha_bar, diffusion::PredictionType prediction, double snr_gamma);

// Per-element loss weights in the latent layout [B, C*f*f, H/f, W/f] of a SpaceToDepthCodec with
// factor f: 1 + object_weight on the pixels of any object of each scene (its instance masks grown
// by one pixel, so both sides of an outline count) and 1 elsewhere. Weighting the objects moves
// the gradient from the background textures to the outlines the model has to learn to draw.
// `masks` holds each item's [n_objects, H, W] instance masks; `channels` is the image channels.
at::Tensor object_weight_map(const std::vector<at::Tensor>& masks, double object_weight, std::int64_t channels, std::int64_t factor);

// The prompt the model is trained on for an item, given a uniform draw u in [0, 1): empty with
// probability `dropout`, the main object's class name ("blue star") with probability
// `class_prompt`, the full caption otherwise.
std::string training_prompt(const std::string& caption, const std::string& class_name, double u, double dropout, double class_prompt);

}  // namespace diffedit::training
