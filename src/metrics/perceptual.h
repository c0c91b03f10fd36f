// A perceptual distance chosen by name, as experiments and FlexIT's regulariser name it:
// `lpips-alex|vgg|squeeze` (LPIPS with its calibrated heads, one safetensors file) or
// `toy-classifier` (the unweighted LPIPS on the toy classifier's three stages, a model directory;
// no calibrated heads exist for it). Differentiable: FlexIT optimises through it.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

#include "metrics/lpips.h"
#include "models/toy_classifier.h"

namespace diffedit::metrics {

class PerceptualDistance {
 public:
  // ConfigError naming `source` for an unknown name; file errors from the loaders.
  static PerceptualDistance load(const std::string& name, const std::filesystem::path& weights, const std::string& source = "lpips.name");
  // a01, b01 [B, 3, H, W] in [0, 1] -> [B] distances, on the network's device (inputs move there).
  at::Tensor operator()(const at::Tensor& a01, const at::Tensor& b01);
  const std::string& name() const { return name_; }
  void to(const at::Device& device);

 private:
  std::string name_;
  Lpips lpips_{nullptr};
  models::ToyClassifier toy_{nullptr};
};

}  // namespace diffedit::metrics
