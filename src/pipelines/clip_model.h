// A CLIP model directory in Hugging Face's CLIPModel layout (config.json with text_config and
// vision_config, model.safetensors with text_model.*, vision_model.*, text_projection,
// visual_projection and logit_scale, the tokenizer files, preprocessor_config.json): both towers,
// the tokenizer and the image normalisation, giving image and text embeddings for CLIPScore and
// retrieval. Used for the toy world's CLIP (models/toy-clip) and for converted OpenAI/HF CLIPs.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

#include "image/clip_preprocess.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "text/clip_tokenizer.h"

namespace diffedit::pipelines {

class ClipModel {
 public:
  static ClipModel load(const std::filesystem::path& dir);

  // images [B, 3, S, S] in [0, 1] with S = the vision tower's image_size -> unnormalised embeds [B, P].
  // (Resizing other sizes with CLIP's bicubic transform is the metrics module's job.)
  at::Tensor image_embeds(const at::Tensor& images01);
  // Any image: float [3, H, W] in [0, 1] -> CLIP's preprocessing (Pillow bicubic resize of the
  // shorter side, centre crop, normalisation; image/clip_preprocess) -> unnormalised embeds [1, P].
  at::Tensor image_embeds_any(const at::Tensor& image01);
  // texts -> unnormalised embeds [B, P].
  at::Tensor text_embeds(const std::vector<std::string>& texts);
  // Both towers move; inputs follow them (preprocessing stays on the CPU: it is Pillow-exact), and
  // embeddings come back on this device.
  void to(const at::Device& device);
  at::Device device() const;

  std::filesystem::path dir;
  models::CLIPTextModel text{nullptr};
  models::CLIPVisionModel vision{nullptr};
  text::CLIPTokenizer tokenizer;
  image::ClipPreprocess preprocess;  // size = the vision tower's; OpenAI's mean/std unless preprocessor_config.json says otherwise
  double logit_scale = 0.0;          // log of the temperature's inverse, as stored
};

}  // namespace diffedit::pipelines
