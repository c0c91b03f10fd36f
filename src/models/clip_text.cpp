#include "models/clip_text.h"

#include <limits>

#include "core/config_keys.h"
#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {

// transformers' config.json keys, each with the member it fills (core/config_keys.h).
const auto& clip_text_keys() {
  using C = CLIPTextConfig;
  const auto at_least = [](double min) { return Schema::integer().range(min, std::nullopt); };
  static const auto table = std::tuple{
      config::key("vocab_size", &C::vocab_size, at_least(1)),
      config::key("hidden_size", &C::hidden_size, at_least(1)),
      config::key("intermediate_size", &C::intermediate_size, at_least(1)),
      config::key("num_hidden_layers", &C::num_hidden_layers, at_least(0)),
      config::key("num_attention_heads", &C::num_attention_heads, at_least(1)),
      config::key("max_position_embeddings", &C::max_position_embeddings, at_least(1)),
      config::key("projection_dim", &C::projection_dim, at_least(1)),
      config::key("hidden_act", &C::hidden_act, Schema::string().choices({"quick_gelu", "gelu"})),
      config::key("layer_norm_eps", &C::layer_norm_eps, Schema::number().range(0, std::nullopt)),
      config::key("eos_token_id", &C::eos_token_id, Schema::integer()),
  };
  return table;
}

// With the keys the native model does not keep: other token ids, training-only or informational.
const Schema& clip_text_schema() {
  static const Schema schema = [] {
    auto ignored = transformers_informational_keys("clip_text_model");
    ignored.push_back({"bos_token_id", Schema::integer()});
    ignored.push_back({"pad_token_id", Schema::integer()});
    return config::object_schema(clip_text_keys(), std::move(ignored));
  }();
  return schema;
}

// transformers' finfo(dtype).min, added to masked attention scores.
double mask_value(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case c10::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case c10::kDouble: return std::numeric_limits<double>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

std::vector<config::Schema::Field> transformers_informational_keys(const std::string& model_type) {
  return {{"attention_dropout", Schema::number()},
          {"dropout", Schema::number()},
          {"initializer_factor", Schema::number()},
          {"initializer_range", Schema::number()},
          {"architectures", Schema::array(Schema::string())},
          {"model_type", Schema::string().choices({model_type})},
          {"torch_dtype", Schema::string()},
          {"transformers_version", Schema::string()},
          {"_name_or_path", Schema::string()}};
}

CLIPTextConfig CLIPTextConfig::from_json(const Json& json, const std::string& source) {
  const CLIPTextConfig c = config::read_keys<CLIPTextConfig>(clip_text_schema().validate(json, source), clip_text_keys(), source);
  if (c.hidden_size % c.num_attention_heads != 0) throw ConfigError(source, "hidden_size is not divisible by num_attention_heads");
  return c;
}

CLIPTextConfig CLIPTextConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

CLIPEncoderLayerImpl::CLIPEncoderLayerImpl(const CLIPLayerShape& c) : heads_(c.heads), quick_gelu_(c.act == "quick_gelu") {
  const std::int64_t w = c.width;
  auto self_attn = register_module("self_attn", std::make_shared<nn::Module>());
  q_proj_ = self_attn->register_module("q_proj", nn::Linear(w, w));
  k_proj_ = self_attn->register_module("k_proj", nn::Linear(w, w));
  v_proj_ = self_attn->register_module("v_proj", nn::Linear(w, w));
  out_proj_ = self_attn->register_module("out_proj", nn::Linear(w, w));
  auto ln = [&](void) { return nn::LayerNorm(nn::LayerNormOptions({w}).eps(c.eps)); };
  layer_norm1_ = register_module("layer_norm1", ln());
  auto mlp = register_module("mlp", std::make_shared<nn::Module>());
  fc1_ = mlp->register_module("fc1", nn::Linear(w, c.intermediate));
  fc2_ = mlp->register_module("fc2", nn::Linear(c.intermediate, w));
  layer_norm2_ = register_module("layer_norm2", ln());
}

at::Tensor CLIPEncoderLayerImpl::forward(const at::Tensor& input, const at::Tensor& mask) {
  const std::int64_t b = input.size(0), t = input.size(1), w = input.size(2), d = w / heads_;
  const at::Tensor x = layer_norm1_->forward(input);
  // transformers' eager CLIPAttention order: q scaled before q k^T, additive mask, softmax, bmm.
  auto split = [&](const at::Tensor& y) { return y.view({b, t, heads_, d}).transpose(1, 2).reshape({b * heads_, t, d}); };
  const at::Tensor q = split(q_proj_->forward(x) * (1.0 / std::sqrt(static_cast<double>(d))));
  const at::Tensor k = split(k_proj_->forward(x)), v = split(v_proj_->forward(x));
  at::Tensor scores = at::bmm(q, k.transpose(1, 2));
  if (mask.defined()) scores = (scores.view({b, heads_, t, t}) + mask).view({b * heads_, t, t});
  at::Tensor attn = at::bmm(scores.softmax(-1), v).view({b, heads_, t, d}).transpose(1, 2).reshape({b, t, w});
  at::Tensor h = input + out_proj_->forward(attn);

  at::Tensor m = fc1_->forward(layer_norm2_->forward(h));
  m = quick_gelu_ ? m * at::sigmoid(m * 1.702) : at::gelu(m);
  return h + fc2_->forward(m);
}

CLIPTextModelImpl::CLIPTextModelImpl(const CLIPTextConfig& c, bool with_projection) : config_(c) {
  auto text_model = register_module("text_model", std::make_shared<nn::Module>());
  auto embeddings = text_model->register_module("embeddings", std::make_shared<nn::Module>());
  token_embedding_ = embeddings->register_module("token_embedding", nn::Embedding(c.vocab_size, c.hidden_size));
  position_embedding_ = embeddings->register_module("position_embedding", nn::Embedding(c.max_position_embeddings, c.hidden_size));
  auto encoder = text_model->register_module("encoder", std::make_shared<nn::Module>());
  auto layers = encoder->register_module("layers", nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers_.push_back(
        CLIPEncoderLayer(CLIPLayerShape{c.hidden_size, c.num_attention_heads, c.intermediate_size, c.hidden_act, c.layer_norm_eps}));
    layers->push_back(layers_.back());
  }
  final_layer_norm_ =
      text_model->register_module("final_layer_norm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  if (with_projection) {
    if (c.projection_dim <= 0) throw ConfigError("config.json", "a text projection needs projection_dim");
    text_projection_ = register_module("text_projection", nn::Linear(nn::LinearOptions(c.hidden_size, c.projection_dim).bias(false)));
  }
}

CLIPTextOutput CLIPTextModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  const std::int64_t b = input_ids.size(0), t = input_ids.size(1);
  if (t > config_.max_position_embeddings)
    throw InputError("input_ids", "sequence of " + std::to_string(t) + " tokens exceeds max_position_embeddings " +
                                      std::to_string(config_.max_position_embeddings));
  const auto options = token_embedding_->weight.options();
  const at::Tensor positions = at::arange(t, at::TensorOptions().dtype(at::kLong).device(input_ids.device()));
  at::Tensor x = token_embedding_->forward(input_ids) + position_embedding_->forward(positions).unsqueeze(0);

  // Causal mask: finfo(dtype).min strictly above the diagonal; plus finfo.min on padding keys if a mask is given.
  const double masked = mask_value(options.dtype().toScalarType());
  at::Tensor mask = at::full({t, t}, masked, options).triu(1).view({1, 1, t, t});
  if (attention_mask.defined()) {
    const at::Tensor pad = (1.0 - attention_mask.to(options.dtype())).mul(masked).view({b, 1, 1, t});
    mask = mask + pad;
  }

  CLIPTextOutput out;
  out.hidden_states.push_back(x);
  for (auto& layer : layers_) {
    x = layer->forward(x, mask);
    out.hidden_states.push_back(x);
  }
  out.last_hidden_state = final_layer_norm_->forward(x);

  // Pooling position: argmax of ids when eos_token_id == 2 (all SD configs), else the first EOS.
  at::Tensor position =
      config_.eos_token_id == 2 ? input_ids.to(at::kLong).argmax(-1) : (input_ids == config_.eos_token_id).to(at::kInt).argmax(-1);
  out.pooler_output = out.last_hidden_state.index({at::arange(b, positions.options()), position});
  if (text_projection_) out.text_embeds = text_projection_->forward(out.pooler_output);
  return out;
}

at::Tensor CLIPTextModelImpl::prompt_embeds(const at::Tensor& input_ids, std::int64_t clip_skip) {
  const CLIPTextOutput out = forward(input_ids);
  if (clip_skip <= 0) return out.last_hidden_state;
  const auto n = static_cast<std::int64_t>(out.hidden_states.size());
  if (clip_skip + 1 > n) throw InputError("clip_skip", std::to_string(clip_skip) + " exceeds the number of layers");
  return final_layer_norm_->forward(out.hidden_states[static_cast<std::size_t>(n - 1 - clip_skip)]);
}

CLIPTextModel load_clip_text(const std::filesystem::path& dir, const std::optional<std::string>& variant) {
  const CLIPTextConfig config = CLIPTextConfig::load(dir / "config.json");
  const auto file = safetensors::File::open(find_weights(dir, "model", variant));
  CLIPTextModel model(config, file.contains("text_projection.weight"));
  // Older SD checkpoints store this buffer (sometimes corrupted); positions are always 0..T-1 here.
  load_state_dict(*model, file, "", {"text_model.embeddings.position_ids"});
  model->eval();
  return model;
}

}  // namespace diffedit::models
