#include "models/clip_vision.h"

#include "core/config_keys.h"
#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {
// transformers' config.json keys, each with the member it fills (core/config_keys.h).
const auto& clip_vision_keys() {
  using C = CLIPVisionConfig;
  const auto positive = [] { return Schema::integer().range(1, std::nullopt); };
  static const auto table = std::tuple{
      config::key("hidden_size", &C::hidden_size, positive()),
      config::key("intermediate_size", &C::intermediate_size, positive()),
      config::key("num_hidden_layers", &C::num_hidden_layers, positive()),
      config::key("num_attention_heads", &C::num_attention_heads, positive()),
      config::key("num_channels", &C::num_channels, positive()),
      config::key("image_size", &C::image_size, positive()),
      config::key("patch_size", &C::patch_size, positive()),
      config::key("projection_dim", &C::projection_dim, positive()),
      config::key("hidden_act", &C::hidden_act, Schema::string().choices({"quick_gelu", "gelu"})),
      config::key("layer_norm_eps", &C::layer_norm_eps, Schema::number().range(0, std::nullopt)),
  };
  return table;
}

const Schema& clip_vision_schema() {
  static const Schema schema = config::object_schema(clip_vision_keys(), transformers_informational_keys("clip_vision_model"));
  return schema;
}
}  // namespace

CLIPVisionConfig CLIPVisionConfig::from_json(const Json& json, const std::string& source) {
  const CLIPVisionConfig c = config::read_keys<CLIPVisionConfig>(clip_vision_schema().validate(json, source), clip_vision_keys(), source);
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
