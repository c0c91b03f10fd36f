// A small CNN for the toy world's 64 classes: the edit-success judge, and the feature network of
// FID/CSFID/KID and the LPIPS backbone on the toy world (its penultimate features).
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <string>

#include "core/config.h"

namespace diffedit::models {

struct ToyClassifierConfig {
  std::int64_t num_classes = 64;
  std::int64_t width = 32;  // channels of the first stage; doubled at each of the 3 stages

  // config.json: {"_class_name": "ToyClassifier", "num_classes": ..., "width": ...}, both required.
  static ToyClassifierConfig from_json(const config::Json& json, const std::string& source);
  config::Json to_json() const;
};

class ToyClassifierImpl : public torch::nn::Module {
 public:
  explicit ToyClassifierImpl(const ToyClassifierConfig& config = {});
  // images [B, 3, 32, 32] in [0, 1] -> logits [B, num_classes]
  at::Tensor forward(const at::Tensor& images);
  // Penultimate features [B, 4 * width] (global average of the last stage).
  at::Tensor features(const at::Tensor& images);
  // The outputs of the three stages ([B, width, 16, 16], [B, 2 width, 8, 8], [B, 4 width, 4, 4]
  // for 32x32 inputs): the layers of the toy world's perceptual distance.
  std::vector<at::Tensor> stages(const at::Tensor& images);

 private:
  torch::nn::Sequential body_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(ToyClassifier);

// Loads `dir/config.json` + `dir/model.safetensors` (as written by `diffedit train`).
ToyClassifier load_toy_classifier(const std::filesystem::path& dir);

}  // namespace diffedit::models
