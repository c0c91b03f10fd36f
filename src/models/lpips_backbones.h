// The feature networks of LPIPS (Zhang et al. 2018) as torchvision defines them — AlexNet, VGG16
// and SqueezeNet 1.1 `features` — with torchvision's parameter names (`features.J.weight`,
// squeeze's `features.J.squeeze|expand1x1|expand3x3.*`), returning the activations LPIPS taps
// (after the ReLU ending each of its slices).
#pragma once

#include <torch/nn.h>

#include <string>
#include <vector>

namespace diffedit::models {

class LpipsBackboneImpl : public torch::nn::Module {
 public:
  // "alex", "vgg" (VGG16) or "squeeze" (SqueezeNet 1.1); InputError otherwise.
  explicit LpipsBackboneImpl(const std::string& name);
  // x [B, 3, H, W] (already scaled) -> the tapped activations, shallow to deep.
  std::vector<at::Tensor> forward(const at::Tensor& x);
  const std::vector<std::int64_t>& channels() const { return channels_; }
  const std::string& name() const { return name_; }

 private:
  struct Layer {
    enum Kind { conv, relu, maxpool, fire } kind;
    std::int64_t kernel = 0, stride = 1, padding = 0;
    bool ceil = false;
    torch::nn::Conv2d conv_{nullptr}, squeeze{nullptr}, expand1x1{nullptr}, expand3x3{nullptr};
  };
  std::string name_;
  std::vector<Layer> layers_;
  std::vector<std::size_t> taps_;  // layer indices whose output is tapped
  std::vector<std::int64_t> channels_;
};
TORCH_MODULE(LpipsBackbone);

}  // namespace diffedit::models
