// Prompt-to-Prompt / Cross-Attention Control (Hertz et al. 2022) as an editing method: the input
// is DDIM-encoded to ratio r (under the reference text R by default), then the pair (R, Q) is
// denoised from that latent in one batch (editing/dual_branch.h), the attention controller
// (editing/p2p_controller.h) making the Q branch reuse R's attention maps; the Q branch is the
// edit. The inversions of PIE-Bench (editing/inversion.h) keep R's branch on the input's
// trajectory: per-step unconditional embeddings (null-text, negative-prompt) or R's branch set
// back onto it (direct).
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
#include "editing/dual_branch.h"
#include "editing/inversion.h"
#include "editing/p2p_controller.h"
#include "editing/p2p_words.h"

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
  BranchOptions branch{.strength = 0.5};  // steps, guidance, strength, inversion
  EditKind edit = EditKind::automatic;
  CrossReplaceSteps cross_replace_steps{};  // default (0, 0.8)
  StepWindow self_replace_steps{0.0, 0.4};
  // Re-weighting (get_equalizer on Q): after replace / refine (chained) or alone (edit reweight).
  // From the dataset: the request's target blend words (PIE-Bench's blended_word[1]), each
  // weighted by the one value given; none for an item without.
  std::vector<std::string> equalizer_words{};
  std::vector<double> equalizer_values{};
  bool equalizer_from_dataset = false;
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

// The method: encode the image's latents `x0` [1, C, h, w] to `strength` by `options.branch.inversion`
// under `reference`, then denoise (reference -> query) under the controller (editing/dual_branch.h).
BranchEdit p2p_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& options);

}  // namespace diffedit::editing::p2p
