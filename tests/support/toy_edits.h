// The embedded toy model and toy-world edit requests the editing tests share.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "data/toy_datasets.h"
#include "data/toyworld_presets.h"
#include "editing/diffedit.h"
#include "editing/noise.h"
#include "eval/edit_request.h"
#include "metrics/region.h"
#include "pipelines/pipeline.h"
#include "test_support.h"

namespace diffedit::testing {

// models/toy-sd, loaded once per test binary.
inline pipelines::StableDiffusion& toy_sd() {
  static pipelines::StableDiffusion sd = pipelines::StableDiffusion::load((source_dir() / "models" / "toy-sd").string());
  return sd;
}

// Item `index` of a toy dataset's test split (the shipped models' world) as an edit request, seeded
// `seed_base + index`. toy-coco's R and Q are captions of equal word counts.
inline editing::EditRequest toy_request(const std::string& dataset, std::int64_t index, std::uint64_t seed_base = 11) {
  const auto world = data::toyworld::preset(data::toyworld::kDefaultPreset);
  const auto items = data::make_toy_dataset(dataset, "test", index + 1, 0, {}, world);
  return eval::request_for(items->get(index), seed_base + static_cast<std::uint64_t>(index));
}

// The latents of the request's image: the posterior's mode.
inline at::Tensor input_latents(pipelines::StableDiffusion& sd, const editing::EditRequest& r) {
  editing::SeededNoise noise(0);
  return editing::image_latents(sd, r.image, false, noise);
}

inline double psnr(const at::Tensor& a, const at::Tensor& b) { return metrics::psnr_from_mse((a - b).pow(2).mean().item<double>()); }

}  // namespace diffedit::testing
