// CLIP vision transformer (Radford et al. 2021) in Hugging Face's CLIPVisionModel(WithProjection)
// layout: patch embedding (conv without bias) + class token + positions, pre-LN ("pre_layrnorm",
// sic), encoder without causal mask, post-LN of the class token, optional projection.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/clip_text.h"

namespace diffedit::models {

struct CLIPVisionConfig {
  std::int64_t hidden_size = 768;
  std::int64_t intermediate_size = 3072;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t num_channels = 3;
  std::int64_t image_size = 224;
  std::int64_t patch_size = 32;
  std::int64_t projection_dim = 0;  // 0: no visual_projection
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;

  static CLIPVisionConfig from_json(const config::Json& json, const std::string& source);
  static CLIPVisionConfig load(const std::filesystem::path& path);
  std::int64_t num_positions() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }
};

struct CLIPVisionOutput {
  std::vector<at::Tensor> hidden_states;  // embeddings after pre_layrnorm, then each layer's output
  at::Tensor last_hidden_state;           // hidden_states.back() (not post-normalised)
  at::Tensor pooler_output;               // post_layernorm(last_hidden_state[:, 0])
  at::Tensor image_embeds;                // pooler_output @ visual_projection^T (if the model has one)
};

class CLIPVisionModelImpl : public torch::nn::Module {
 public:
  CLIPVisionModelImpl(const CLIPVisionConfig& config, bool with_projection);
  // pixel_values [B, C, image_size, image_size], already normalised (CLIP preprocessing).
  CLIPVisionOutput forward(const at::Tensor& pixel_values);
  const CLIPVisionConfig& config() const { return config_; }

 private:
  CLIPVisionConfig config_;
  at::Tensor class_embedding_;
  torch::nn::Conv2d patch_embedding_{nullptr};
  torch::nn::Embedding position_embedding_{nullptr};
  torch::nn::LayerNorm pre_layrnorm_{nullptr}, post_layernorm_{nullptr};
  std::vector<CLIPEncoderLayer> layers_;
  torch::nn::Linear visual_projection_{nullptr};
};
TORCH_MODULE(CLIPVisionModel);

// Loads `dir/config.json` + `dir/model[.variant].safetensors` (a visual_projection in the file
// makes a model with projection; a legacy position_ids buffer is ignored).
CLIPVisionModel load_clip_vision(const std::filesystem::path& dir, const std::optional<std::string>& variant = std::nullopt);

}  // namespace diffedit::models
