#include "pipelines/clip_model.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "core/safetensors.h"
#include "image/clip_preprocess.h"
#include "image/resize.h"
#include "models/state_dict.h"

namespace diffedit::pipelines {

ClipModel ClipModel::load(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  const config::Json c = config::load_json(config_path);
  if (!c.is_object() || !c.contains("text_config") || !c.contains("vision_config"))
    throw FormatError(config_path.string(), "not a CLIPModel config (needs text_config and vision_config)");
  ClipModel m;
  m.dir = dir;
  auto text_config = models::CLIPTextConfig::from_json(c["text_config"], config_path.string() + ": text_config");
  auto vision_config = models::CLIPVisionConfig::from_json(c["vision_config"], config_path.string() + ": vision_config");
  const std::int64_t projection = c.value("projection_dim", std::int64_t{512});
  text_config.projection_dim = vision_config.projection_dim = projection;
  m.text = models::CLIPTextModel(text_config, true);
  m.vision = models::CLIPVisionModel(vision_config, true);
  const auto file = safetensors::File::open(models::find_weights(dir, "model"));
  // One file holds both towers: each loads its half and ignores the other's.
  models::load_state_dict(*m.text, file, "",
                          {"vision_model.*", "visual_projection.weight", "logit_scale", "text_model.embeddings.position_ids"});
  models::load_state_dict(*m.vision, file, "",
                          {"text_model.*", "text_projection.weight", "logit_scale", "vision_model.embeddings.position_ids"});
  if (file.contains("logit_scale")) m.logit_scale = file.tensor("logit_scale").to(at::kDouble).item<double>();
  m.text->eval();
  m.vision->eval();
  m.tokenizer = text::CLIPTokenizer::load(dir);
  m.preprocess.size = vision_config.image_size;
  const auto pre = dir / "preprocessor_config.json";
  if (std::filesystem::exists(pre)) {
    const config::Json p = config::load_json(pre);
    try {
      if (p.contains("image_mean")) m.preprocess.mean = p["image_mean"].get<std::array<float, 3>>();
      if (p.contains("image_std")) m.preprocess.std = p["image_std"].get<std::array<float, 3>>();
    } catch (const config::Json::exception&) {
      throw FormatError(pre.string(), "image_mean and image_std must be lists of 3 numbers");
    }
  }
  return m;
}

at::Tensor ClipModel::image_embeds(const at::Tensor& images01) {
  const std::int64_t s = vision->config().image_size;
  if (images01.dim() != 4 || images01.size(2) != s || images01.size(3) != s)
    throw InputError("clip", "images must be [B, 3, " + std::to_string(s) + ", " + std::to_string(s) + "] for " + dir.string());
  return vision->forward(image::clip_normalize(images01, preprocess).to(device())).image_embeds;
}

at::Tensor ClipModel::image_embeds_any(const at::Tensor& image01) {
  if (image01.dim() != 3 || image01.size(0) != 3) throw InputError("clip", "expected a [3, H, W] image");
  // To uint8 as an image file would hold it, then the reference transform.
  return vision->forward(image::clip_preprocess(image::to_u8_hwc(image01).to(at::kCPU), preprocess).unsqueeze(0).to(device())).image_embeds;
}

at::Tensor ClipModel::text_embeds(const std::vector<std::string>& texts) {
  return text->forward(tokenizer.encode_batch(texts).to(device())).text_embeds;
}

void ClipModel::to(const at::Device& device) {
  text->to(device);
  vision->to(device);
}

at::Device ClipModel::device() const { return vision->parameters().front().device(); }

}  // namespace diffedit::pipelines
