// CLIP text transformer (Radford et al. 2021) in Hugging Face's CLIPTextModel(WithProjection)
// layout: the text encoder of Stable Diffusion (SD1: CLIP ViT-L/14, quick_gelu; SD2: OpenCLIP
// ViT-H/14, gelu, 23 layers stored). Parameter names are transformers' own.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::models {

struct CLIPTextConfig {
  std::int64_t vocab_size = 49408;
  std::int64_t hidden_size = 768;
  std::int64_t intermediate_size = 3072;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t max_position_embeddings = 77;
  std::int64_t projection_dim = 0;  // 0: no text_projection
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  std::int64_t eos_token_id = 2;  // 2 (as in SD configs): pool at argmax(input_ids)

  static CLIPTextConfig from_json(const config::Json& json, const std::string& source);
  static CLIPTextConfig load(const std::filesystem::path& path);
};

// The keys of transformers' CLIP configs that are training-only or informational (accepted and
// ignored), with `model_type` its only allowed value.
std::vector<config::Schema::Field> transformers_informational_keys(const std::string& model_type);

struct CLIPTextOutput {
  std::vector<at::Tensor> hidden_states;  // embeddings, then each layer's output (no final LN)
  at::Tensor last_hidden_state;           // final_layer_norm(hidden_states.back())
  at::Tensor pooler_output;               // last_hidden_state at the pooling position
  at::Tensor text_embeds;                 // pooler_output @ text_projection^T (if the model has one)
};

// One pre-LN transformer layer of either CLIP tower (transformers' CLIPEncoderLayer names).
struct CLIPLayerShape {
  std::int64_t width = 0, heads = 0, intermediate = 0;
  std::string act = "quick_gelu";  // or "gelu" (exact erf)
  double eps = 1e-5;
};

class CLIPEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit CLIPEncoderLayerImpl(const CLIPLayerShape& shape);
  // `mask` is added to the attention scores ([.., T, T], broadcast over batch and heads); an
  // undefined mask means full attention (the vision tower).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask = {});

 private:
  std::int64_t heads_;
  bool quick_gelu_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
  torch::nn::LayerNorm layer_norm1_{nullptr}, layer_norm2_{nullptr};
};
TORCH_MODULE(CLIPEncoderLayer);

class CLIPTextModelImpl : public torch::nn::Module {
 public:
  // `with_projection`: also create text_projection (CLIPTextModelWithProjection).
  CLIPTextModelImpl(const CLIPTextConfig& config, bool with_projection);

  // input_ids [B, T] (int64). `attention_mask` [B, T] (1 = keep) is optional: SD pipelines pass none.
  CLIPTextOutput forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {});
  at::Tensor final_layer_norm(const at::Tensor& x) { return final_layer_norm_->forward(x); }
  // What SD pipelines feed the UNet: clip_skip = 0 -> last_hidden_state; k -> final LN of hidden_states[-(k+1)].
  at::Tensor prompt_embeds(const at::Tensor& input_ids, std::int64_t clip_skip = 0);

  const CLIPTextConfig& config() const { return config_; }
  bool has_projection() const { return static_cast<bool>(text_projection_); }

 private:
  CLIPTextConfig config_;
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr};
  std::vector<CLIPEncoderLayer> layers_;
  torch::nn::LayerNorm final_layer_norm_{nullptr};
  torch::nn::Linear text_projection_{nullptr};
};
TORCH_MODULE(CLIPTextModel);

// Loads `dir/config.json` + `dir/model[.variant].safetensors`. A text_projection in the file makes
// a model with projection; a legacy `text_model.embeddings.position_ids` buffer is ignored.
CLIPTextModel load_clip_text(const std::filesystem::path& dir, const std::optional<std::string>& variant = std::nullopt);

}  // namespace diffedit::models
