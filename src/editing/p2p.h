// Prompt-to-Prompt / Cross-Attention Control (Hertz et al. 2022) as an editing method: the input
// is DDIM-encoded to ratio r (under the reference text R by default), then the pair (R, Q) is
// denoised from that latent in one batch, the attention controller (editing/p2p_controller.h)
// making the Q branch reuse R's attention maps; the Q branch is the edit. The inversions of
// PIE-Bench (editing/inversion.h) keep R's branch on the input's trajectory: per-step
// unconditional embeddings (null-text, negative-prompt) or R's branch set back onto it (direct).
//
// The controller's windows are fractions of the denoising steps actually run (int(r * steps)).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "diffusion/scheduler_config.h"
#include "editing/inversion.h"
#include "editing/p2p_controller.h"
#include "editing/p2p_words.h"

namespace diffedit::pipelines {
class Denoiser;
class StableDiffusion;
}  // namespace diffedit::pipelines
namespace diffedit::text {
class CLIPTokenizer;
}

namespace diffedit::editing::p2p {

enum class EditKind {
  automatic,  // replace for prompts with the same number of words, refine otherwise
  replace,    // word swap (AttentionReplace)
  refine,     // added or removed words (AttentionRefine)
  reweight,   // re-weighting alone (AttentionReweight without a previous controller)
  none,       // no controller: the two prompts generated independently (EmptyControl)
};
enum class BlendWords { off, changed, given, dataset };  // dataset: the request's words, none when it has none

struct Options {
  std::int64_t steps = 50;
  double guidance = 7.5;
  double strength = 0.5;
  InversionMethod inversion = InversionMethod::reference;
  NullTextOptions null_text{};
  EditKind edit = EditKind::automatic;
  CrossReplaceSteps cross_replace_steps{};  // default (0, 0.8)
  StepWindow self_replace_steps{0.0, 0.4};
  // Re-weighting (get_equalizer on Q): after replace / refine (chained) or alone (edit reweight).
  std::vector<std::string> equalizer_words{};
  std::vector<double> equalizer_values{};
  BlendWords blend = BlendWords::off;
  std::vector<std::string> blend_source_words{}, blend_target_words{};
  double blend_threshold = 0.3;
};

// Options from the method's validated parameters; ConfigError naming the key when inconsistent.
Options options_from(const config::Json& parameters);
// The `p2p` method's own parameters (the registry adds strength, steps and guidance).
std::vector<config::Schema::Field> parameter_fields();

// The controller for prompts (source, target) over `num_steps` denoising steps on an h x w latent;
// nullopt for edit none.
std::optional<ControllerSpec> controller_spec(const text::CLIPTokenizer& tokenizer, const std::string& source, const std::string& target,
                                              const Options& options, std::int64_t num_steps, std::int64_t latent_h, std::int64_t latent_w);

// What p2p_denoise went through, for parity tests and inspection.
struct Trace {
  std::vector<at::Tensor> latents;                 // [2, C, h, w]: the start, then after each step (and LocalBlend)
  std::vector<at::Tensor> noise_pred;              // guided noise of each step [2, C, h, w]
  std::vector<at::Tensor> pre_blend;               // after each scheduler step, before LocalBlend
  std::vector<at::Tensor> blend_soft, blend_mask;  // LocalBlend's map and mask per step
  at::Tensor unet_out_first;                       // raw UNet output of the first step ([uncond; cond] rows)
};

// Denoises [x, x] (`start` [1, C, h, w]) over `timesteps` (a suffix of the DDIM schedule of
// `num_inference_steps`) under `cond` = [source; target] embeddings [2, L, D], guided with
// `uncond` [1, L, D] (or [K, L, D], step k's own: null-text inversion): the UNet batch is
// [x_src, x_tgt, x_src, x_tgt] with contexts [uncond, uncond, source, target]. `controller`
// (null: none) edits the attention maps; its step k is the k-th of `timesteps`. With
// `source_targets` (Direct Inversion: one latent [1, C, h, w] per step), the source row is set to
// step k's after its scheduler step, before LocalBlend. Returns the latents [2, C, h, w].
at::Tensor p2p_denoise(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                       const at::Tensor& cond, const at::Tensor& uncond, const std::vector<std::int64_t>& timesteps,
                       std::int64_t num_inference_steps, double guidance, Controller* controller, Trace* trace = nullptr,
                       const std::vector<at::Tensor>* source_targets = nullptr);

struct EditOutput {
  at::Tensor latents{};  // [1, C, h, w] the target branch
  at::Tensor source{};   // [1, C, h, w] the source branch: the input's reconstruction under R
  at::Tensor mask{};     // LocalBlend's last mask [1, 1, h, w], if on
  // The inversion and the denoiser evaluations of each phase: {"inversion": name, "evaluations":
  // {"inversion", "null_text", "denoising"}} (+ "null_text_adam_steps").
  config::Json details{};
};
// The method: encode the image's latents `x0` [1, C, h, w] to `strength` by `options.inversion`,
// then p2p_denoise from (reference -> query).
EditOutput p2p_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& options);

}  // namespace diffedit::editing::p2p
