// LPIPS v0.1 (Zhang et al. 2018), lpips=True: inputs in [-1, 1] are scaled per channel, fed to a
// backbone (alex, vgg, squeeze); each tapped activation is unit-normalised over channels
// (f / (sqrt(sum f^2) + 1e-10), eps after the root), the squared difference of the two images'
// features goes through a non-negative 1x1 head (`lin{k}.model.1.weight`, no bias), and the layer
// terms are spatially averaged (or bilinearly upsampled to the input size, align_corners=False,
// for the spatial map) and summed.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "models/lpips_backbones.h"

namespace diffedit::metrics {

struct LpipsOutput {
  at::Tensor distance;             // [B, 1, 1, 1], or [B, 1, H, W] when spatial
  std::vector<at::Tensor> layers;  // per-layer terms, same shapes
};

class LpipsImpl : public torch::nn::Module {
 public:
  explicit LpipsImpl(const std::string& backbone);
  // in0, in1 [B, 3, H, W] in [-1, 1] (`normalize`: inputs in [0, 1], mapped to 2x - 1 first).
  LpipsOutput forward(const at::Tensor& in0, const at::Tensor& in1, bool spatial = false, bool normalize = false);
  models::LpipsBackbone backbone() const { return backbone_; }
  // LPIPS' input scaling ahead of the backbone, x in [-1, 1].
  static at::Tensor scaling_layer(const at::Tensor& x);
  // Loads backbone (torchvision `features.*`) and heads (`lin{k}.model.1.weight`) from one file;
  // `lins.{k}.*` aliases are ignored.
  void load(const safetensors::File& file);
  // The head output lin_k(diff_k) before averaging, for inspection.
  std::vector<at::Tensor> head_outputs(const at::Tensor& in0, const at::Tensor& in1);

 private:
  models::LpipsBackbone backbone_{nullptr};
  std::vector<torch::nn::Conv2d> lins_;
  std::vector<std::shared_ptr<torch::nn::Module>> heads_;  // lin{k}, the modules holding lins_[k]
};
TORCH_MODULE(Lpips);

// f / (sqrt(sum_c f^2) + 1e-10): LPIPS' normalisation of a feature map [B, C, H, W] over channels.
at::Tensor unit_normalize(const at::Tensor& f);

// LPIPS without learned heads (the lpips=False "baseline" of Zhang et al.): per layer the channel
// sum of the squared difference of unit-normalised features, spatially averaged (or upsampled to
// h x w when `spatial`), summed over layers. Used with the toy classifier's stages on the toy world,
// where no calibrated heads exist.
LpipsOutput lpips_unweighted(const std::vector<at::Tensor>& f0, const std::vector<at::Tensor>& f1, bool spatial = false, std::int64_t h = 0,
                             std::int64_t w = 0);

// LPIPS restricted to a region: the mean of the spatial map (images [1, 3, H, W] in [0, 1]) over the
// pixels inside or outside `mask` (metrics/region.h conventions).
double masked_lpips(Lpips& model, const at::Tensor& a01, const at::Tensor& b01, const at::Tensor& mask, bool inside);

// Loads backbone (torchvision `features.*`) and head (`lin{k}.model.1.weight`) tensors from one
// safetensors file (as scripts/convert_weights.py writes it); `lins.{k}.*` aliases are ignored.
Lpips load_lpips(const std::string& backbone, const std::filesystem::path& weights);

}  // namespace diffedit::metrics
