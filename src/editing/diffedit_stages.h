// The DiffEdit family on one input as cached stages: every result of `diffedit`,
// `diffedit_oracle_mask`, `encode_decode` and `mask_no_encoding` is computed here, whether its
// method runs alone (editing/methods.cpp: a run of one setting) or beside other settings of a
// sweep (editing/shared_edits.h). Stages:
// 1. the mask map, cached by mask_stage_key (MaskOptions' fields and the reference text) and
//    thresholded for each setting;
// 2. the encoding: DDIM inversion cached by inversion_stage_key (InversionOptions' fields, the
//    reference text and, with a sampled posterior, the noise stream the latent is drawn from), run
//    once to the largest r planned; or, for mask_no_encoding, the input noised with one draw;
// 2b. with decode_negative null_text, the per-step unconditional embeddings optimised along that
//    inversion (null_text_optimization), cached by null_text_stage_key (the inversion's key, the
//    depth r, the decoding's guidance and the optimisation's options);
// 3. the masked decoding, per setting, its negative the empty text, R (decode_negative reference)
//    or the optimised embeddings.
// Noise: each stage that starts a stream takes a fresh one (`fresh_noise`) and draws in the order a
// standalone run would: the mask's n draws, then the sampled latent, then the noising draw.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "editing/diffedit.h"
#include "editing/method.h"

namespace diffedit::editing {

// One DiffEdit-family setting: the method's options and where its mask and encoding come from.
struct FamilySetting {
  enum class Mask { inferred, none, given };  // given: the request's oracle mask
  enum class Encoding { ddim, noised };       // noised: x_t ~ q(x_t | x0), one draw (mask_no_encoding)
  DiffEditOptions options;
  Mask mask = Mask::inferred;
  Encoding encoding = Encoding::ddim;
  bool reference_text = true;  // R is the request's reference (false: the empty text, "w/o ref.")

  // Whether `method` is of the family, and its setting from validated parameters (a ConfigError
  // naming decode_negative where null_text cannot apply: no DDIM inversion, or one guided by R).
  static bool in_family(const std::string& method);
  static FamilySetting from(const std::string& method, const config::Json& parameters);
};

// The keys under which a setting's stages are cached: equal keys, equal results. Empty when the
// setting has no such stage (no inferred mask; no DDIM inversion).
std::string mask_stage_key(const FamilySetting& s);
std::string inversion_stage_key(const FamilySetting& s);
// Empty unless the setting's decoding uses optimised null-text embeddings (decode_negative
// null_text, guidance > 1 and inner steps > 0).
std::string null_text_stage_key(const FamilySetting& s);
// Whether the setting optimises null-text embeddings (null_text_stage_key is not empty).
bool optimises_null_text(const FamilySetting& s);

class DiffEditStages {
 public:
  // `fresh_noise` gives a new stream, positioned where a standalone run's stream starts.
  DiffEditStages(pipelines::StableDiffusion& sd, const EditRequest& request, std::function<NoiseSource&()> fresh_noise);
  ~DiffEditStages();

  // Announces a setting before any run, so that each inversion goes as deep as its settings need.
  void plan(const FamilySetting& s);
  // The setting's result; its `shared` lists the cached stages it used with their evaluations
  // (included in denoiser_evaluations, which is the cost of the setting run alone).
  EditResult run(const FamilySetting& s);
  // The results of `settings`, with the decodings of settings that share steps and guidance
  // batched, at most `max_batch` per denoiser call (masked_decode_batch: equal to run's results up
  // to float rounding). Calls on_result(i, result) for settings[i] as each batch finishes.
  void run_batched(const std::vector<FamilySetting>& settings, std::int64_t max_batch,
                   const std::function<void(std::size_t, EditResult&&)>& on_result);
  // The same over the settings of several inputs' stages (one model): decodings of different
  // inputs share calls, each under its own texts.
  struct StagedSetting {
    DiffEditStages* stages = nullptr;
    FamilySetting setting;
  };
  static void run_batched(const std::vector<StagedSetting>& settings, std::int64_t max_batch,
                          const std::function<void(std::size_t, EditResult&&)>& on_result);

 private:
  struct MaskEntry;
  struct InversionEntry;
  struct NullTextEntry;
  struct Prepared;  // a setting's mask and encoding, ready to decode
  std::unique_ptr<Prepared> prepare(const FamilySetting& s);
  EditResult finish(Prepared& p, const at::Tensor& decoded, std::int64_t decode_evaluations, double decode_seconds);
  const DiffEditTexts& texts(bool reference_text);
  MaskEntry& mask(const FamilySetting& s);
  // The input's latent drawn on the mask's stream after its draws (once; the mode when not `sample`).
  const at::Tensor& latent_after(MaskEntry& mask, bool sample);
  InversionEntry& inversion(const FamilySetting& s, MaskEntry* mask);
  NullTextEntry& null_text(const FamilySetting& s, const Inversion& pivot);

  pipelines::StableDiffusion& sd_;
  const EditRequest& request_;
  std::function<NoiseSource&()> fresh_noise_;
  std::map<bool, DiffEditTexts> texts_;
  std::map<std::string, std::unique_ptr<MaskEntry>> masks_;
  std::map<std::string, std::unique_ptr<InversionEntry>> inversions_;
  std::map<std::string, std::unique_ptr<NullTextEntry>> null_texts_;
  std::map<std::string, double> depth_;  // per inversion key: the largest r planned
};

}  // namespace diffedit::editing
