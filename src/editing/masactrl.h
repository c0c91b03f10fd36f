// MasaCtrl (Cao et al., ICCV 2023): mutual self-attention control. The input is inverted under a
// source text S (the empty text, as MasaCtrl's real-image editing and PIE-Bench run it), then
// [S, Q] are denoised from the inverted latent in one batch (editing/dual_branch.h); from step
// `start_step` on, in the UNet's transformer blocks from `start_layer` on (MasaCtrl's layer: the
// block index in execution order, 16 in SD 1.x, decoder blocks 10-15 by default), Q's
// self-attention queries attend to S's keys and values, so that the edit takes its content from
// the input while its layout follows Q. Each half of a guided batch ([uncond; cond]) reads its own
// source row, as MutualSelfAttentionControl chunks it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "editing/dual_branch.h"

namespace diffedit::editing::masactrl {

struct Options {
  BranchOptions branch{};
  std::int64_t start_step = 4;    // MasaCtrl's STEP: the first controlled denoising step
  std::int64_t start_layer = 10;  // MasaCtrl's LAYER: the first controlled transformer block
};

// Options from the method's validated parameters (the registry adds strength, steps and guidance).
Options options_from(const config::Json& parameters);
std::vector<config::Schema::Field> parameter_fields();

class MutualSelfAttention : public BranchControl {
 public:
  MutualSelfAttention(std::int64_t start_step, std::int64_t start_layer) : start_step_(start_step), start_layer_(start_layer) {}
  void set_guided(bool guided) override { guided_ = guided; }
  void begin_step(std::int64_t step) override { step_ = step; }
  // Self-attention of a controlled block: the target rows' keys and values become the source
  // rows' (batch [S, Q], or [S, Q, S, Q] when guided).
  void on_projections(const models::AttentionSite& site, at::Tensor& q, at::Tensor& k, at::Tensor& v) override;
  // The probabilities themselves are left alone: the pass keeps the plain (or fused) kernel.
  bool wants(const models::AttentionSite&, std::int64_t) override { return false; }

 private:
  std::int64_t start_step_, start_layer_;
  bool guided_ = true;
  std::int64_t step_ = 0;
};

// The method on the image's latents `x0` [1, C, h, w]: `source` is S, `query` Q. An InputError
// names start_layer when the UNet has no block that far.
BranchEdit masactrl_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& source, const std::string& query,
                         const Options& options);

}  // namespace diffedit::editing::masactrl
