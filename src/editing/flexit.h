// FlexIT (Couairon et al., CVPR 2022): edit an image by optimising its latent code so that the
// decoded image's CLIP embeddings move to a target point built from the input image and the
// source and target texts, regularised by LPIPS to the input and by the latent's distance to its
// starting point. Defaults are FlexIT's (docs/paper-protocol.md, Baselines):
//   target T = n(im0 n(E_I(x0)) + target n(E_T(target)) - source n(E_T(source))), n(v) = v / |v|,
//   per CLIP network (im0 0.2, source 0.4, target 1);
//   L(z) = mean over networks and augmentations |n(E_I(aug(D(z)))) - T|^2
//          + 0.15 LPIPS(D(z), x0) + 0.05 (mean|z - z0| + mean (z - z0)^2);
//   z <- z - lr |z0| g / |g| with g = dL/dz and lr 0.05 (a step of fixed size relative to |z0|).
// Deviations, stated: the codec is the pipeline's own (the SD VAE, or the toy models' lossless
// codec) instead of FlexIT's VQGAN, images are edited at the dataset's size (FlexIT: 288), and
// the augmentation is a random resized crop (scale 0.8-1) with a random horizontal flip.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "editing/method.h"

namespace diffedit::editing {

class NoiseSource;

struct FlexITOptions {
  std::vector<std::string> clip_models;  // CLIPModel directories; the loss averages over them
  double im0_coef = 0.2, source_coef = 0.4, target_coef = 1.0;
  double lr = 0.05;
  double lpips_weight = 0.15;
  std::string lpips_net = "lpips-vgg", lpips_weights;
  double znorm_weight = 0.05;
  std::int64_t n_augment = 1;  // augmented views per network and iteration; 0: the image itself
  // The source text S: "dataset" (the dataset's own description of the input: the source class
  // name on ImageNet, the caption on COCO and Imagen, as FlexIT's transform_dataset.py passes it,
  // whatever DiffEdit's reference R is set to), "reference" (R) or "none" (empty).
  std::string source_text = "dataset";
};

config::Schema flexit_schema();
FlexITOptions flexit_options(const config::Json& parameters);

// The target point of one network from unnormalised embeddings [1, P].
at::Tensor flexit_target(const at::Tensor& image_embed, const at::Tensor& source_embed, const at::Tensor& target_embed,
                         const FlexITOptions& o);

// The source text S that `o.source_text` picks from the request ("dataset": request.source, or R
// when the request has no source, as from `diffedit edit --reference`).
std::string flexit_source(const EditRequest& request, const FlexITOptions& o);

// One optimisation run to the largest of `save_points` (iteration counts, 0 allowed: the
// encoded-decoded input); `on_save(i, result)` receives the image after save_points[i] iterations.
// result.details holds the loss terms at that point and the loss at every iteration so far.
void run_flexit(pipelines::StableDiffusion& sd, const EditRequest& request, const FlexITOptions& options,
                const std::vector<std::int64_t>& save_points, NoiseSource& noise,
                const std::function<void(std::size_t, EditResult&&)>& on_save);

}  // namespace diffedit::editing
