// The inversions of PIE-Bench's Table 1 (PnP Inversion, Ju et al., ICLR 2024) that run on the
// model as it is, for the two-branch editors (editing/dual_branch.h: Prompt-to-Prompt, MasaCtrl),
// as cure-lab/PnPInversion's models/p2p/inversion.py runs them. Each starts from the DDIM inversion of the input under the
// source prompt R at guidance 1 (the pivot trajectory z*_t) and differs in what the guided
// denoising from z*_T is given so that R's branch stays on that trajectory:
//   null_text        (Mokady et al., CVPR 2023): one optimised unconditional embedding per step;
//   negative_prompt  (Miyake et al. 2023): R's embedding as the unconditional one (the guided
//                    prediction of R's branch is then the inversion's own);
//   direct           (Ju et al. 2024): R's branch put back onto z*_{t-1} after every step.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "core/config_keys.h"
#include "diffusion/scheduler_config.h"
#include "editing/diffedit.h"

namespace diffedit::pipelines {
class Denoiser;
}

namespace diffedit::editing {

enum class InversionMethod {
  reference,      // DDIM inversion under R; denoised under guidance with the empty text (PIE-Bench's ddim+p2p)
  unconditional,  // DDIM inversion by the unconditional model
  null_text,
  negative_prompt,
  direct,
};
const config::EnumNames<InversionMethod>& inversion_method_names();

struct NullTextOptions {
  std::int64_t inner_steps = 10;     // N: Adam steps per timestep (the reference's num_inner_steps)
  double early_stop_epsilon = 1e-5;  // stop a timestep's steps once the loss < epsilon + i * 2e-5
};

struct NullTextEmbeddings {
  at::Tensor embeddings{};           // [K, L, D]: the unconditional embedding of each denoising step
  std::int64_t adam_steps = 0;       // all timesteps together (each one UNet forward and backward)
  std::vector<double> final_loss{};  // per step: the loss at its last Adam step (empty without optimisation)
};

// Null-text optimisation along `pivot` (DDIM inversion under `cond` at guidance 1) over
// `timesteps`, the last K of the `num_inference_steps` schedule: at step k (index i in that
// schedule), from the current latent z_t (z*_T at first), Adam (lr 1e-2 (1 - i / 100), fresh
// state, N steps at most) moves the unconditional embedding, initialised from step k-1's (the
// empty text's at first), so that the guided DDIM step lands on z*_{t-1}; then z_t takes that
// step. Evaluations: per step one conditional prediction, one per Adam step, one for the step
// taken. Without guidance (<= 1) the embedding has no effect: `uncond` for every step, no
// evaluation; likewise with N = 0 (which the reference runs as plain DDIM).
NullTextEmbeddings null_text_optimization(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler,
                                          const Inversion& pivot, const std::vector<std::int64_t>& timesteps,
                                          std::int64_t num_inference_steps, const at::Tensor& cond, const at::Tensor& uncond,
                                          double guidance, const NullTextOptions& options);

// Direct Inversion's targets: z*_{t-1} of each step of `timesteps` (the input's latent after the
// last). The reference adds the offset z*_{t-1} - step(z*_t), computed in a separate guided pass,
// to R's branch after each step; R's branch is at z*_t then and its prediction is that pass's, so
// the sum is z*_{t-1}: denoise_branches (editing/dual_branch.h) sets it directly, without the
// extra pass.
std::vector<at::Tensor> direct_inversion_targets(const Inversion& pivot, const std::vector<std::int64_t>& timesteps);

}  // namespace diffedit::editing
