// The skeleton the dual-branch editors share (Prompt-to-Prompt, editing/p2p.h; MasaCtrl,
// editing/masactrl.h): the input is inverted under the source text S by one of PIE-Bench's
// inversions (editing/inversion.h), then [S, T] are denoised from the inverted latent in one batch
// while a control (a UNet hook told each step) makes T's branch read S's internals; T's branch is
// the edit, S's the input's reconstruction.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "diffusion/scheduler_config.h"
#include "editing/inversion.h"
#include "models/unet_hooks.h"

namespace diffedit::pipelines {
class Denoiser;
class StableDiffusion;
}  // namespace diffedit::pipelines

namespace diffedit::editing {

// What denoise_branches tells a control: the UNet batch layout and each step.
class BranchControl : public models::AttentionHook {
 public:
  // `guided`: the UNet batch is [uncond rows; cond rows], else cond rows alone.
  virtual void set_guided(bool /*guided*/) {}
  // Before each UNet call: the denoising step's index (0 ... K-1).
  virtual void begin_step(std::int64_t step) = 0;
  // After each UNet call.
  virtual void end_step() {}
  // After the scheduler step, on latents [2, C, h, w]: e.g. LocalBlend (identity by default).
  virtual at::Tensor step_callback(const at::Tensor& latents) { return latents; }
  // A mask the control made of the edit (LocalBlend's), [1, 1, h, w]; undefined when none.
  virtual at::Tensor edit_mask() const { return {}; }
  virtual at::Tensor edit_map() const { return {}; }  // its continuous map before thresholding
};

// What denoise_branches went through, for parity tests and inspection.
struct BranchTrace {
  std::vector<at::Tensor> latents;                 // [2, C, h, w]: the start, then after each step (and its callback)
  std::vector<at::Tensor> noise_pred;              // guided noise of each step [2, C, h, w]
  std::vector<at::Tensor> pre_blend;               // after each scheduler step, before the callback
  std::vector<at::Tensor> blend_soft, blend_mask;  // the control's map and mask per step, when it has them
  at::Tensor unet_out_first;                       // raw UNet output of the first step ([uncond; cond] rows)
};

// Denoises [x, x] (`start` [1, C, h, w]) over `timesteps` (a suffix of the DDIM schedule of
// `num_inference_steps`) under `cond` = [source; target] embeddings [2, L, D], guided with
// `uncond` [1, L, D] (or [K, L, D], step k's own: null-text inversion): the UNet batch is
// [x_src, x_tgt, x_src, x_tgt] with contexts [uncond, uncond, source, target]. `control` (null:
// none) hooks the UNet; its step k is the k-th of `timesteps`. With `source_targets` (Direct
// Inversion: one latent [1, C, h, w] per step), the source row is set to step k's after its
// scheduler step, before the control's callback. Returns the latents [2, C, h, w].
at::Tensor denoise_branches(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                            const at::Tensor& cond, const at::Tensor& uncond, const std::vector<std::int64_t>& timesteps,
                            std::int64_t num_inference_steps, double guidance, BranchControl* control, BranchTrace* trace = nullptr,
                            const std::vector<at::Tensor>* source_targets = nullptr);

struct BranchOptions {
  std::int64_t steps = 50;
  double guidance = 7.5;
  double strength = 1.0;
  InversionMethod inversion = InversionMethod::reference;
  NullTextOptions null_text{};
};

// From a method's validated parameters: steps, guidance and strength (the registry's), inversion
// and null_text_* (the fields below, when the method has them).
BranchOptions branch_options_from(const config::Json& parameters);
// A method's own parameters `fields` followed by `inversion` (documented by `doc`, limited to
// `choices` when given) and, for the null-text inversion, null_text_inner_steps and
// null_text_early_stop_epsilon.
std::vector<config::Schema::Field> with_inversion_fields(std::vector<config::Schema::Field> fields, const std::string& doc,
                                                         const std::vector<std::string>& choices = {});

struct BranchEdit {
  at::Tensor latents{};  // [1, C, h, w] the target branch
  at::Tensor source{};   // [1, C, h, w] the source branch: the input's reconstruction under S
  at::Tensor mask{};     // the control's mask [1, 1, h, w], if it has one
  // The inversion and the denoiser evaluations of each phase: {"inversion": name, "evaluations":
  // {"inversion", "null_text", "denoising"}} (+ "null_text_adam_steps").
  config::Json details{};
};

// The edit of r = 0, where there is nothing to edit: the input in both branches.
BranchEdit unedited(const at::Tensor& x0, const BranchOptions& options);

// Builds the control for the K denoising steps actually run on an h x w latent (null: none).
using ControlFactory = std::function<std::unique_ptr<BranchControl>(std::int64_t steps, std::int64_t latent_h, std::int64_t latent_w)>;

// Encodes the image's latents `x0` [1, C, h, w] to `options.strength` by `options.inversion`
// under `source` (DDIM at guidance 1 first, then the inversion's own stage), then
// denoise_branches from (source -> target) under the control `make_control` builds.
BranchEdit dual_branch_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& source, const std::string& target,
                            const BranchOptions& options, const ControlFactory& make_control);

}  // namespace diffedit::editing
