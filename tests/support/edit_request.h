// The edit request the editing tests share: a random image of the pipeline's native size, a
// colour/shape edit, and an oracle mask covering the top half.
#pragma once

#include <ATen/ATen.h>

#include "editing/method.h"
#include "pipelines/pipeline.h"

namespace diffedit::testing {

inline editing::EditRequest tiny_edit_request(const pipelines::StableDiffusion& sd, std::uint64_t seed = 0) {
  const std::int64_t side = sd.unet->config().sample_size * sd.vae_scale_factor();
  at::manual_seed(0);
  editing::EditRequest r;
  r.image = at::rand({1, 3, side, side});
  r.query = "a blue square";
  r.reference = "a red circle";
  r.oracle_mask = at::zeros({1, 1, side, side});
  r.oracle_mask.slice(2, 0, side / 2).fill_(1);
  r.seed = seed;
  return r;
}

}  // namespace diffedit::testing
