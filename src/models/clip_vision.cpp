#include "models/clip_vision.h"

#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {
Schema clip_vision_schema() {
  return Schema::object({
      {"hidden_size", Schema::integer().range(1, std::nullopt)},
      {"intermediate_size", Schema::integer().range(1, std::nullopt)},
      {"num_hidden_layers", Schema::integer().range(1, std::nullopt)},
      {"num_attention_heads", Schema::integer().range(1, std::nullopt)},
      {"num_channels", Schema::integer().range(1, std::nullopt)},
      {"image_size", Schema::integer().range(1, std::nullopt)},
      {"patch_size", Schema::integer().range(1, std::nullopt)},
      {"projection_dim", Schema::integer().range(1, std::nullopt)},
      {"hidden_act", Schema::string().choices({"quick_gelu", "gelu"})},
      {"layer_norm_eps", Schema::number().range(0, std::nullopt)},
      // Training-only or informational keys of transformers' CLIPVisionConfig.
      {"attention_dropout", Schema::number()},
      {"dropout", Schema::number()},
      {"initializer_factor", Schema::number()},
      {"initializer_range", Schema::number()},
      {"architectures", Schema::array(Schema::string())},
      {"model_type", Schema::string().choices({"clip_vision_model"})},
      {"torch_dtype", Schema::string()},
      {"transformers_version", Schema::string()},
      {"_name_or_path", Schema::string()},
  });
}
}  // namespace

CLIPVisionConfig CLIPVisionConfig::from_json(const Json& json, const std::string& source) {
  const Json j = clip_vision_schema().validate(json, source);
  CLIPVisionConfig c;
  c.hidden_size = j.value("hidden_size", c.hidden_size);
  c.intermediate_size = j.value("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = j.value("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
  c.num_channels = j.value("num_channels", c.num_channels);
  c.image_size = j.value("image_size", c.image_size);
  c.patch_size = j.value("patch_size", c.patch_size);
  c.projection_dim = j.value("projection_dim", c.projection_dim);
  c.hidden_act = j.value("hidden_act", c.hidden_act);
  c.layer_norm_eps = j.value("layer_norm_eps", c.layer_norm_eps);
  if (c.hidden_size % c.num_attention_heads != 0) throw ConfigError(source, "hidden_size is not divisible by num_attention_heads");
  if (c.image_size % c.patch_size != 0) throw ConfigError(source, "image_size is not a multiple of patch_size");
  return c;
}

CLIPVisionConfig CLIPVisionConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

CLIPVisionModelImpl::CLIPVisionModelImpl(const CLIPVisionConfig& c, bool with_projection) : config_(c) {
  auto vision_model = register_module("vision_model", std::make_shared<nn::Module>());
  auto embeddings = vision_model->register_module("embeddings", std::make_shared<nn::Module>());
  class_embedding_ = embeddings->register_parameter("class_embedding", at::randn({c.hidden_size}));
  patch_embedding_ = embeddings->register_module(
      "patch_embedding", nn::Conv2d(nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size).bias(false)));
  position_embedding_ = embeddings->register_module("position_embedding", nn::Embedding(c.num_positions(), c.hidden_size));
  auto ln = [&] { return nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  pre_layrnorm_ = vision_model->register_module("pre_layrnorm", ln());
  auto encoder = vision_model->register_module("encoder", std::make_shared<nn::Module>());
  auto layers = encoder->register_module("layers", nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers_.push_back(
        CLIPEncoderLayer(CLIPLayerShape{c.hidden_size, c.num_attention_heads, c.intermediate_size, c.hidden_act, c.layer_norm_eps}));
    layers->push_back(layers_.back());
  }
  post_layernorm_ = vision_model->register_module("post_layernorm", ln());
  if (with_projection) {
    if (c.projection_dim <= 0) throw ConfigError("config.json", "a visual projection needs projection_dim");
    visual_projection_ = register_module("visual_projection", nn::Linear(nn::LinearOptions(c.hidden_size, c.projection_dim).bias(false)));
  }
}

CLIPVisionOutput CLIPVisionModelImpl::forward(const at::Tensor& pixel_values) {
  if (pixel_values.dim() != 4 || pixel_values.size(1) != config_.num_channels || pixel_values.size(2) != config_.image_size ||
      pixel_values.size(3) != config_.image_size)
    throw InputError("pixel_values", "expected [B, " + std::to_string(config_.num_channels) + ", " + std::to_string(config_.image_size) +
                                         ", " + std::to_string(config_.image_size) + "]");
  const std::int64_t b = pixel_values.size(0);
  // Patches in row-major grid order: [B, W, g, g] -> [B, g*g, W].
  const at::Tensor patches = patch_embedding_->forward(pixel_values.to(patch_embedding_->weight.dtype())).flatten(2).transpose(1, 2);
  const at::Tensor cls = class_embedding_.view({1, 1, -1}).expand({b, 1, config_.hidden_size});
  at::Tensor x = at::cat({cls, patches}, 1) + position_embedding_->weight.unsqueeze(0);
  CLIPVisionOutput out;
  x = pre_layrnorm_->forward(x);
  out.hidden_states.push_back(x);
  for (auto& layer : layers_) {
    x = layer->forward(x);
    out.hidden_states.push_back(x);
  }
  out.last_hidden_state = x;
  out.pooler_output = post_layernorm_->forward(x.select(1, 0));
  if (visual_projection_) out.image_embeds = visual_projection_->forward(out.pooler_output);
  return out;
}

CLIPVisionModel load_clip_vision(const std::filesystem::path& dir, const std::optional<std::string>& variant) {
  const CLIPVisionConfig config = CLIPVisionConfig::load(dir / "config.json");
  const auto file = safetensors::File::open(find_weights(dir, "model", variant));
  CLIPVisionModel model(config, file.contains("visual_projection.weight"));
  load_state_dict(*model, file, "", {"vision_model.embeddings.position_ids"});
  model->eval();
  return model;
}

}  // namespace diffedit::models
