// Plug-and-Play diffusion features (Tumanyan et al., CVPR 2023) as PIE-Bench runs it
// (cure-lab/PnPInversion's run_editing_pnp.py): the input is DDIM-inverted under R (guidance 1);
// each denoising step runs the batch [source, target (negative), target (Q)] with contexts
// ["", negative prompt, Q], the source row being the input's latent at that level; in the first
// `feature_steps` of the steps the target rows take the source's residual features of one decoder
// resnet (up_blocks[1].resnets[1] in SD 1.x), in the first `attention_steps` the source's
// self-attention queries and keys in the decoder's transformer blocks from one on
// (up_blocks[1].attentions[1] in SD 1.x: "blocks 4-11 of the decoder"). The target rows are
// guided as usual; the source row's prediction is only read through the injections.
//
// The source row: `direct` (directinversion+pnp, and PnP's own) feeds the inversion's trajectory
// z*_t; `reference` (ddim+pnp) the DDIM reconstruction from z*_T under R, unguided (N evaluations
// more). PIE-Bench's ddim+pnp feeds that reconstruction one step ahead (step i reads the latent
// after step i, and the target starts from the latent after step 0); here both rows are at the
// step's level, as in PnP's own code.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "diffusion/scheduler_config.h"
#include "editing/dual_branch.h"
#include "editing/inversion.h"
#include "models/unet_hooks.h"

namespace diffedit::editing::pnp {

struct Options {
  BranchOptions branch{};                                      // steps, guidance, strength; inversion reference or direct
  double feature_steps = 0.8;                                  // PnP's pnp_f_t: a fraction of the steps run
  double attention_steps = 0.5;                                // PnP's pnp_attn_t
  std::pair<std::int64_t, std::int64_t> feature_resnet{1, 1};  // up_blocks[b].resnets[l]
  std::pair<std::int64_t, std::int64_t> attention_from{1, 1};  // up_blocks[b].attentions[l] and every later one
  std::string negative_prompt = "ugly, blurry, black, low res, unrealistic";
};

Options options_from(const config::Json& parameters);
std::vector<config::Schema::Field> parameter_fields();

// The injections into the rows [source, target uncond, target cond] of each UNet call.
class Injection : public models::AttentionHook, public models::ResnetHook {
 public:
  // `feature_steps`, `attention_steps`: how many of the first steps inject (counts, not fractions).
  Injection(std::int64_t feature_steps, std::int64_t attention_steps, std::pair<std::int64_t, std::int64_t> feature_resnet,
            std::pair<std::int64_t, std::int64_t> attention_from)
      : feature_steps_(feature_steps),
        attention_steps_(attention_steps),
        feature_resnet_(feature_resnet),
        attention_from_(attention_from) {}
  void begin_step(std::int64_t step) { step_ = step; }

  void on_projections(const models::AttentionSite& site, at::Tensor& q, at::Tensor& k, at::Tensor& v) override;
  bool wants(const models::AttentionSite&, std::int64_t) override { return false; }
  at::Tensor on_residual(const models::ResnetSite& site, at::Tensor h) override;

  // Injections made so far (attention modules, resnets), for tests.
  std::int64_t attention_injections() const { return attention_count_; }
  std::int64_t feature_injections() const { return feature_count_; }

 private:
  std::int64_t feature_steps_, attention_steps_;
  std::pair<std::int64_t, std::int64_t> feature_resnet_, attention_from_;
  std::int64_t step_ = 0, attention_count_ = 0, feature_count_ = 0;
};

// Denoises x from `start` [1, C, h, w] over `timesteps` (a suffix of the DDIM schedule of
// `num_inference_steps`) with the source row at step k `source_latents[k]`, contexts
// `contexts` = [source, negative, target] [3, L, D], the target guided by `guidance`, injected by
// `injection` (null: none). Returns the target's latent [1, C, h, w].
at::Tensor pnp_denoise(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                       const std::vector<at::Tensor>& source_latents, const at::Tensor& contexts,
                       const std::vector<std::int64_t>& timesteps, std::int64_t num_inference_steps, double guidance, Injection* injection);

// The method on the image's latents `x0` [1, C, h, w]: inverted under `reference`, edited to
// `query`. `source` of the result: the source row's last latent (x0 itself for direct).
BranchEdit pnp_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& options);

}  // namespace diffedit::editing::pnp
