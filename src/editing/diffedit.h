// DiffEdit (Couairon et al., ICLR 2023): infer an edit mask by contrasting the noise predictions
// under the query text Q and the reference text R, DDIM-encode the input to ratio r, then decode
// under Q while pasting the encoded latents back outside the mask.
//
// The three steps are separate functions, each reading only its own options struct (MaskOptions,
// InversionOptions, DecodeOptions: the values the step uses, the mode's preset resolved). A result
// of steps 1 and 2 depends on nothing else, so editing/diffedit_stages.h caches them by a key
// derived from every field of that struct: a sweep computes the continuous mask map once (and
// re-thresholds it) and inverts once to the largest r (every smaller r reuses the trajectory).
// Two presets: `paper` follows the paper's text; `diffusers_compat` reproduces diffusers'
// StableDiffusionDiffEditPipeline, quirks included. Each point where they differ is its own
// option, so an ablation can flip one at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "core/config.h"
#include "core/config_keys.h"
#include "core/struct_key.h"
#include "diffusion/scheduler_config.h"
#include "editing/noise.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing {

enum class DiffEditMode { paper, diffusers_compat };
// How the difference map is freed of extreme values and rescaled to [0, 1].
enum class MaskNormalization {
  clamp_mean_ratio,  // clamp at ratio * mean(map), divide by the clamp (diffusers' rule)
  quantile_minmax,   // clip at the q-quantile, then (map - min) / (max - min)
};
// Order of the halves when guidance is applied during mask estimation. diffusers unpacks
// encode_prompt's (positive, negative) as (negative, positive): `swapped` reproduces that, i.e.
// pos + g (neg - pos).
enum class GuidanceOrder { standard, swapped };
// Which encoded latent is pasted outside the mask after the denoising step from level t.
enum class PasteLevel {
  step_output,  // the encoded latent at the step's output level (the paper's y~_t = M y_t + (1-M) x_t)
  step_input,   // the encoded latent at level t, the step's input (diffusers)
};

// How the decoding keeps the input outside the mask (§4.2 compares the two at r = 0.8).
enum class MaskOperator {
  latent,  // DiffEdit: y~_t = M y_t + (1 - M) x_t, the encoded latent pasted after each step
  glide,   // GLIDE-style: each step taken from x0_hat corrected to the input's latent outside M
};

// The negative (unconditional) embedding of the guided decoding: PIE-Bench's Table 1 inversions
// that need no training, on DiffEdit's encoding.
enum class DecodeNegative {
  empty,      // the empty text (DiffEdit)
  reference,  // R's embedding (negative-prompt inversion, Miyake et al. 2023)
  null_text,  // per step, the unconditional embedding optimised along the DDIM inversion (Mokady et al. 2023)
};

// The names configs give the enums above (one table each: the schema's choices and the parsing).
const config::EnumNames<DiffEditMode>& mode_names();
const config::EnumNames<MaskNormalization>& normalization_names();
const config::EnumNames<GuidanceOrder>& guidance_order_names();
const config::EnumNames<PasteLevel>& paste_names();
const config::EnumNames<MaskOperator>& mask_operator_names();
const config::EnumNames<DecodeNegative>& decode_negative_names();

// Step 1's inputs (besides the texts Q and R and the noise draws).
struct MaskOptions {
  std::int64_t steps = 50;    // the schedule whose truncation at `strength` gives the draws' level
  std::int64_t samples = 10;  // n noise draws
  double strength = 0.5;      // noise strength of the draws
  double guidance = 1.0;      // > 1: guided predictions in the contrast (diffusers)
  GuidanceOrder guidance_order = GuidanceOrder::standard;
  MaskNormalization normalization = MaskNormalization::quantile_minmax;
  double clamp_ratio = 3.0;
  double quantile = 0.99;
  bool sample_posterior = false;  // the input's latent the draws noise: a posterior sample (diffusers) or its mode

  auto fields() const {
    using structs::field;
    return std::tuple{field("steps", steps),
                      field("samples", samples),
                      field("strength", strength),
                      field("guidance", guidance),
                      field("guidance_order", guidance_order),
                      field("normalization", normalization),
                      field("clamp_ratio", clamp_ratio),
                      field("quantile", quantile),
                      field("sample_posterior", sample_posterior)};
  }
};

// Step 2's inputs besides the depth r (one inversion to the largest r serves every smaller one).
struct InversionOptions {
  std::int64_t steps = 50;
  bool with_reference = false;    // R with guidance (diffusers) or the unconditional model (paper)
  double guidance = 1.0;          // with R only (the unconditional model is not guided)
  bool sample_posterior = false;  // the input's latent: a posterior sample (diffusers) or its mode

  auto fields() const {
    using structs::field;
    return std::tuple{field("steps", steps), field("with_reference", with_reference), field("guidance", guidance),
                      field("sample_posterior", sample_posterior)};
  }
};

// Step 3's inputs (besides the inversion and the mask).
struct DecodeOptions {
  std::int64_t steps = 50;
  double strength = 0.5;  // decoding starts at ratio r
  double guidance = 7.5;
  PasteLevel paste = PasteLevel::step_output;
  MaskOperator mask_operator = MaskOperator::latent;
};

// A DiffEdit setting as a config writes it.
struct DiffEditOptions {
  // Step 1: mask
  std::int64_t mask_samples = 10;  // n noise draws
  double mask_strength = 0.5;      // noise strength for the mask
  double mask_guidance = 1.0;      // > 1: guided predictions in the contrast (diffusers: 7.5)
  GuidanceOrder mask_guidance_order = GuidanceOrder::standard;
  MaskNormalization normalization = MaskNormalization::quantile_minmax;  // the mode's (see preset)
  double clamp_ratio = 3.0;
  double quantile = 0.99;
  double threshold = 0.5;  // mask = map > threshold
  // Step 2: encoding
  double strength = 0.5;               // encoding ratio r
  bool encode_with_reference = false;  // false: unconditional model (paper); true: R with guidance (diffusers)
  bool sample_posterior = false;       // VAE latent: posterior sample (diffusers) or its mode
  // Step 3: decoding
  std::int64_t steps = 50;
  double guidance = 7.5;
  PasteLevel paste = PasteLevel::step_output;
  MaskOperator mask_operator = MaskOperator::latent;
  DecodeNegative decode_negative = DecodeNegative::empty;
  std::int64_t null_text_inner_steps = 10;     // null_text: Adam steps per timestep at most
  double null_text_early_stop_epsilon = 1e-5;  // null_text: a timestep's steps stop once the loss < epsilon + i * 2e-5

  static DiffEditOptions preset(DiffEditMode mode);

  // What each step reads.
  MaskOptions mask_stage() const;
  InversionOptions inversion_stage() const;
  DecodeOptions decode_stage() const;
};

// Text conditions as prompt embeddings [1, L, D].
struct DiffEditTexts {
  at::Tensor query{};      // Q
  at::Tensor reference{};  // R (the empty text's embedding when there is no reference)
  at::Tensor empty{};      // the unconditional text
  // Negative (unconditional) embeddings used with guidance; default to `empty` when undefined.
  at::Tensor mask_query_negative{}, mask_reference_negative{}, encode_negative{}, decode_negative{};
};

struct MaskEstimate {
  at::Tensor difference;                        // [1, h, w] mean |eps_Q - eps_R| over draws and channels
  at::Tensor map;                               // [1, h, w] normalised to [0, 1]
  double clamp = 0.0;                           // clamp value of clamp_mean_ratio (or the quantile)
  at::Tensor binarize(double threshold) const;  // [1, 1, h, w] float, 1 where map > threshold
};

struct Inversion {
  at::Tensor x0;                        // [1, C, h, w] clean latent
  std::vector<std::int64_t> timesteps;  // ascending levels reached
  std::vector<at::Tensor> latents;      // latents[i] is at level timesteps[i]
  // The encoded latent at `level`: x0 below the first level.
  const at::Tensor& at_level(std::int64_t level) const;
};

// Options from the parameters of a DiffEdit-family method, as validated by the method registry
// (editing/method.h): the mode's preset with every given parameter applied.
DiffEditOptions diffedit_options(const config::Json& parameters);

// Whether a DiffEdit-family method's parameters use the dataset's reference text (reference_text
// is not none), and the reference text it uses: `reference`, or the empty text.
bool uses_reference_text(const config::Json& parameters);
std::string reference_for(const config::Json& parameters, const std::string& reference);

// Prompt embeddings of Q, R and the empty text, in one text-encoder call.
DiffEditTexts encode_texts(pipelines::StableDiffusion& sd, const std::string& query, const std::string& reference);
// Latents of an image [1, 3, H, W]: the posterior's mode, or a sample drawn from `noise`.
at::Tensor image_latents(pipelines::StableDiffusion& sd, const at::Tensor& image, bool sample, NoiseSource& noise);

// Step 1. `x0` are the latents of the input ([1, C, h, w]); for diffusers compatibility one
// posterior sample per draw may be passed instead ([n, C, h, w]).
MaskEstimate estimate_mask(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& x0,
                           const DiffEditTexts& texts, const MaskOptions& options, NoiseSource& noise);

// Step 2: DDIM inversion of `x0` over the first int(steps * strength) inverse steps.
Inversion ddim_invert(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& x0,
                      const DiffEditTexts& texts, const InversionOptions& options, double strength);

// Step 3: decode from ratio `options.strength` (<= the inversion's) under Q; `mask` [1, 1, h, w]
// (an undefined mask means no masking: the encode-decode ablation).
at::Tensor masked_decode(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const Inversion& inversion,
                         const at::Tensor& mask, const DiffEditTexts& texts, const DecodeOptions& options,
                         std::vector<at::Tensor>* trajectory = nullptr);

// Step 3 for several decodings at once, e.g. the settings of a sweep over r and the threshold:
// jobs with equal steps and guidance, denoised in lockstep so that each timestep is one guided
// call on every job that has started (their schedules are suffixes of one schedule). Jobs may
// come from different inputs (a job's own `texts`), e.g. the items of a batch. Each result equals masked_decode's up to float rounding (a
// batched convolution may sum in another order), not bit for bit.
struct DecodeJob {
  const Inversion* inversion = nullptr;
  at::Tensor mask{};  // [1, 1, h, w], or undefined: no masking
  DecodeOptions options;
  // [K, L, D]: the negative embedding of each of the job's K decoding steps (null-text); undefined:
  // the texts' decode_negative (the empty text's when that is undefined).
  at::Tensor negatives{};
  const DiffEditTexts* texts = nullptr;  // this job's own Q (another input's); null: the batch's texts
};
struct DecodedBatch {
  std::vector<at::Tensor> latents;        // per job
  std::vector<std::int64_t> evaluations;  // per job: its part of the denoiser evaluations (what it costs alone)
};
DecodedBatch masked_decode_batch(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler,
                                 const std::vector<DecodeJob>& jobs, const DiffEditTexts& texts);

}  // namespace diffedit::editing
