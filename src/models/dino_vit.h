// DINO's vision transformer (Caron et al. 2021, facebookresearch/dino vision_transformer.py) with
// its published parameter names (cls_token, pos_embed, patch_embed.proj, blocks.i.{norm1, attn.qkv,
// attn.proj, norm2, mlp.fc1, mlp.fc2}, norm): patch conv, [CLS; patches] + positions (bicubically
// resized for other grids, as DINO does), pre-LN blocks with exact GELU, final LayerNorm. The
// published dino_vit{s,b}{8,16} backbones have no head (num_classes 0). PIE-Bench's structure
// distance reads the keys of block 11 of dino_vitb8 (metrics/structure_distance.h).
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace diffedit::models {

// Defaults: dino_vitb8. config.json uses DINO's constructor argument names (img_size may be [224],
// as DINO passes it); `convert_weights.py dino` writes one.
struct DinoVitConfig {
  std::int64_t embed_dim = 768;
  std::int64_t depth = 12;
  std::int64_t num_heads = 12;
  std::int64_t patch_size = 8;
  std::int64_t img_size = 224;  // the training resolution: pos_embed holds (img_size / patch_size)^2 + 1 rows
  std::int64_t in_chans = 3;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  std::optional<double> qk_scale;  // unset: head_dim^-0.5
  double layer_norm_eps = 1e-6;

  static DinoVitConfig from_json(const config::Json& json, const std::string& source);
  static DinoVitConfig load(const std::filesystem::path& path);
  std::int64_t grid() const { return img_size / patch_size; }  // PatchEmbed floors it
  std::int64_t num_positions() const { return grid() * grid() + 1; }
};

// DINO's Attention: one qkv Linear split as [3, heads, head_dim], softmax(q k^T * scale) v, proj.
class DinoAttentionImpl : public torch::nn::Module {
 public:
  explicit DinoAttentionImpl(const DinoVitConfig& c);
  // x [B, T, E]; `qkv_out` (optional) receives the qkv Linear's output [B, T, 3E].
  at::Tensor forward(const at::Tensor& x, at::Tensor* qkv_out = nullptr);
  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  std::int64_t heads_;
  double scale_;
};
TORCH_MODULE(DinoAttention);

// x + attn(norm1(x)), then + fc2(gelu(fc1(norm2(x)))).
class DinoBlockImpl : public torch::nn::Module {
 public:
  explicit DinoBlockImpl(const DinoVitConfig& c);
  at::Tensor forward(const at::Tensor& x, at::Tensor* qkv_out = nullptr);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  DinoAttention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};  // registered as mlp.fc1, mlp.fc2
};
TORCH_MODULE(DinoBlock);

// What one forward pass recorded (the hooks of PIE-Bench's VitExtractor, and more).
struct DinoVitTrace {
  at::Tensor patch_embed;                 // [B, gh*gw, E], the conv output flattened row-major
  at::Tensor pos_embed_used;              // [1, T, E], CLS row first
  std::vector<at::Tensor> block_outputs;  // each block's output [B, T, E]
  std::vector<at::Tensor> qkv;            // each block's attn.qkv output [B, T, 3E]
  at::Tensor norm_out;                    // the final LayerNorm [B, T, E]
};

class DinoVitImpl : public torch::nn::Module {
 public:
  explicit DinoVitImpl(const DinoVitConfig& config = {});
  // x [B, in_chans, H, W] (any H, W >= patch_size; remainders are dropped by the conv) -> the CLS
  // row of the final norm [B, E], as DINO's forward.
  at::Tensor forward(const at::Tensor& x);
  DinoVitTrace forward_trace(const at::Tensor& x);
  // [B, gh*gw, E] for x [B, C, H, W].
  at::Tensor embed_patches(const at::Tensor& x);
  // Positions for an input of h x w pixels: pos_embed itself when the input is square and its grid
  // is the training grid, else the patch grid resized as DINO's interpolate_pos_encoding.
  at::Tensor interpolate_pos_encoding(std::int64_t h, std::int64_t w);
  // [CLS; patches] + positions: the input of block 0.
  at::Tensor prepare_tokens(const at::Tensor& x);
  // The attn.qkv output [B, T, 3E] of block `block` (0-based); later blocks are not run.
  at::Tensor qkv_output(const at::Tensor& x, std::int64_t block);
  const DinoVitConfig& config() const { return config_; }

 private:
  at::Tensor check_input(const at::Tensor& x) const;

  DinoVitConfig config_;
  at::Tensor cls_token_, pos_embed_;
  torch::nn::Conv2d proj_{nullptr};  // patch_embed.proj
  std::vector<DinoBlock> blocks_;
  torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(DinoVit);

// Loads `dir/config.json` + `dir/model.safetensors`, strictly: a missing, extra or misshaped tensor
// is a FormatError naming the file and the tensors.
DinoVit load_dino_vit(const std::filesystem::path& dir);

}  // namespace diffedit::models
