// A CLIP model directory in Hugging Face's CLIPModel layout (config.json with text_config and
// vision_config, model.safetensors with text_model.*, vision_model.*, text_projection,
// visual_projection and logit_scale, the tokenizer files, preprocessor_config.json): both towers,
// the tokenizer and the image normalisation, giving image and text embeddings for CLIPScore and
// retrieval. Used for the toy world's CLIP (models/toy-clip) and for converted OpenAI/HF CLIPs.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "text/clip_tokenizer.h"

namespace diffedit::pipelines {

// CLIP's image normalisation (OpenAI's values unless preprocessor_config.json says otherwise).
struct ClipNormalize {
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

class ClipModel {
 public:
  static ClipModel load(const std::filesystem::path& dir);

  // images [B, 3, S, S] in [0, 1] with S = the vision tower's image_size -> unnormalised embeds [B, P].
  // (Resizing other sizes with CLIP's bicubic transform is the metrics module's job.)
  at::Tensor image_embeds(const at::Tensor& images01);
  // Any image: float [3, H, W] in [0, 1] -> CLIP's preprocessing (Pillow bicubic resize of the
  // shorter side, centre crop, normalisation; metrics/clip_preprocess) -> unnormalised embeds [1, P].
  at::Tensor image_embeds_any(const at::Tensor& image01);
  // texts -> unnormalised embeds [B, P].
  at::Tensor text_embeds(const std::vector<std::string>& texts);
  // (u - mean) / std per channel, in float32, as torchvision's Normalize.
  at::Tensor normalize(const at::Tensor& images01) const;

  std::filesystem::path dir;
  models::CLIPTextModel text{nullptr};
  models::CLIPVisionModel vision{nullptr};
  text::CLIPTokenizer tokenizer;
  ClipNormalize norm;
  double logit_scale = 0.0;  // log of the temperature's inverse, as stored
};

}  // namespace diffedit::pipelines
