#include "models/dino_vit.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/config_keys.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {
// DINO's VisionTransformer constructor arguments, each with the member it fills.
const auto& dino_vit_keys() {
  using C = DinoVitConfig;
  const auto positive = [] { return Schema::integer().range(1, std::nullopt); };
  static const auto table = std::tuple{
      config::key("embed_dim", &C::embed_dim, positive()),
      config::key("depth", &C::depth, positive()),
      config::key("num_heads", &C::num_heads, positive()),
      config::key("patch_size", &C::patch_size, positive()),
      // DINO passes img_size as a list and uses its first entry.
      config::key("img_size", &C::img_size, Schema::one_of({positive(), Schema::array(positive()).non_empty()}),
                  [](const Json& v, C& c, const std::string& source) {
                    if (v.is_array() && v.size() != 1) throw ConfigError(source, "img_size: one size is expected (DINO's grid is square)");
                    c.img_size = v.is_array() ? v[0].get<std::int64_t>() : v.get<std::int64_t>();
                  }),
      config::key("in_chans", &C::in_chans, positive()),
      config::key("mlp_ratio", &C::mlp_ratio, Schema::number().range(0, std::nullopt)),
      config::key("qkv_bias", &C::qkv_bias, Schema::boolean()),
      config::key("qk_scale", &C::qk_scale, Schema::number().nullable()),
      config::key("layer_norm_eps", &C::layer_norm_eps, Schema::number().range(0, std::nullopt)),
  };
  return table;
}

// Keys that do not change inference: dropout rates (eval mode), descriptions, and the notes the
// PIE-Bench fixture's config carries. A classification head is not part of this model.
const Schema& dino_vit_schema() {
  static const Schema schema = config::object_schema(dino_vit_keys(), {{"num_classes", Schema::integer().range(0, 0)},
                                                                       {"drop_rate", Schema::number().range(0, 1)},
                                                                       {"attn_drop_rate", Schema::number().range(0, 1)},
                                                                       {"drop_path_rate", Schema::number().range(0, 1)},
                                                                       {"architecture", Schema::string()},
                                                                       {"hub_name_emulated", Schema::string()},
                                                                       {"source", Schema::string()},
                                                                       {"num_tokens_at_224", Schema::integer()},
                                                                       {"structure_layer", Schema::integer()},
                                                                       {"real_dino_vitb8", Schema::any()}});
  return schema;
}

nn::LayerNorm layer_norm(const DinoVitConfig& c) { return nn::LayerNorm(nn::LayerNormOptions({c.embed_dim}).eps(c.layer_norm_eps)); }
}  // namespace

DinoVitConfig DinoVitConfig::from_json(const Json& json, const std::string& source) {
  const DinoVitConfig c = config::read_keys<DinoVitConfig>(dino_vit_schema().validate(json, source), dino_vit_keys(), source);
  if (c.embed_dim % c.num_heads != 0) throw ConfigError(source, "embed_dim is not divisible by num_heads");
  if (c.img_size < c.patch_size) throw ConfigError(source, "img_size is smaller than patch_size");
  if (static_cast<std::int64_t>(static_cast<double>(c.embed_dim) * c.mlp_ratio) < 1)
    throw ConfigError(source, "mlp_ratio gives no hidden units");
  return c;
}

DinoVitConfig DinoVitConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

DinoAttentionImpl::DinoAttentionImpl(const DinoVitConfig& c)
    : heads_(c.num_heads), scale_(c.qk_scale.value_or(std::pow(static_cast<double>(c.embed_dim / c.num_heads), -0.5))) {
  qkv = register_module("qkv", nn::Linear(nn::LinearOptions(c.embed_dim, 3 * c.embed_dim).bias(c.qkv_bias)));
  proj = register_module("proj", nn::Linear(c.embed_dim, c.embed_dim));
}

at::Tensor DinoAttentionImpl::forward(const at::Tensor& x, at::Tensor* qkv_out) {
  const std::int64_t b = x.size(0), n = x.size(1), e = x.size(2);
  const at::Tensor y = qkv->forward(x);
  if (qkv_out) *qkv_out = y;
  const at::Tensor t = y.reshape({b, n, 3, heads_, e / heads_}).permute({2, 0, 3, 1, 4});
  const at::Tensor q = t[0], k = t[1], v = t[2];
  // As DINO: scores scaled after the product; matmul, not baddbmm (libtorch 1.13's CPU baddbmm
  // with beta = 0 can read uninitialised memory).
  const at::Tensor attn = (at::matmul(q, k.transpose(-2, -1)) * scale_).softmax(-1);
  return proj->forward(at::matmul(attn, v).transpose(1, 2).reshape({b, n, e}));
}

DinoBlockImpl::DinoBlockImpl(const DinoVitConfig& c) {
  norm1 = register_module("norm1", layer_norm(c));
  attn = register_module("attn", DinoAttention(c));
  norm2 = register_module("norm2", layer_norm(c));
  const auto hidden = static_cast<std::int64_t>(static_cast<double>(c.embed_dim) * c.mlp_ratio);  // DINO: int(dim * mlp_ratio)
  auto mlp = register_module("mlp", std::make_shared<nn::Module>());
  fc1 = mlp->register_module("fc1", nn::Linear(c.embed_dim, hidden));
  fc2 = mlp->register_module("fc2", nn::Linear(hidden, c.embed_dim));
}

at::Tensor DinoBlockImpl::forward(const at::Tensor& x, at::Tensor* qkv_out) {
  const at::Tensor h = x + attn->forward(norm1->forward(x), qkv_out);
  return h + fc2->forward(at::gelu(fc1->forward(norm2->forward(h))));  // exact (erf) GELU, as nn.GELU()
}

DinoVitImpl::DinoVitImpl(const DinoVitConfig& c) : config_(c) {
  cls_token_ = register_parameter("cls_token", at::zeros({1, 1, c.embed_dim}));
  pos_embed_ = register_parameter("pos_embed", at::zeros({1, c.num_positions(), c.embed_dim}));
  auto patch_embed = register_module("patch_embed", std::make_shared<nn::Module>());
  proj_ = patch_embed->register_module("proj", nn::Conv2d(nn::Conv2dOptions(c.in_chans, c.embed_dim, c.patch_size).stride(c.patch_size)));
  auto blocks = register_module("blocks", nn::ModuleList());
  for (std::int64_t i = 0; i < c.depth; ++i) {
    blocks_.push_back(DinoBlock(c));
    blocks->push_back(blocks_.back());
  }
  norm_ = register_module("norm", layer_norm(c));
}

at::Tensor DinoVitImpl::check_input(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != config_.in_chans || x.size(2) < config_.patch_size || x.size(3) < config_.patch_size)
    throw InputError("DINO ViT input",
                     "expected [B, " + std::to_string(config_.in_chans) + ", H, W] with H, W >= " + std::to_string(config_.patch_size));
  return x.to(pos_embed_.device(), pos_embed_.dtype());
}

at::Tensor DinoVitImpl::embed_patches(const at::Tensor& x) { return proj_->forward(check_input(x)).flatten(2).transpose(1, 2); }

at::Tensor DinoVitImpl::interpolate_pos_encoding(std::int64_t h, std::int64_t w) {
  const std::int64_t p = config_.patch_size, g = config_.grid();
  const std::int64_t gh = h / p, gw = w / p;
  // DINO compares the token count and the pixel sides: a square input on the training grid only.
  if (gh * gw == g * g && h == w) return pos_embed_;
  const std::int64_t e = config_.embed_dim;
  const at::Tensor grid = pos_embed_.slice(1, 1).reshape({1, g, g, e}).permute({0, 3, 1, 2});
  // DINO adds 0.1 to the grid size and passes scale factors: the kernel then maps output to input
  // coordinates with these factors (src = (dst + 0.5) / sf - 0.5), not with g / gh; the output
  // size is floor(g * sf) = gh.
  const double sh = (static_cast<double>(gh) + 0.1) / static_cast<double>(g);
  const double sw = (static_cast<double>(gw) + 0.1) / static_cast<double>(g);
  const auto oh = static_cast<std::int64_t>(std::floor(static_cast<double>(g) * sh));
  const auto ow = static_cast<std::int64_t>(std::floor(static_cast<double>(g) * sw));
  const at::Tensor resized = at::upsample_bicubic2d(grid, {oh, ow}, /*align_corners=*/false, sh, sw);
  return at::cat({pos_embed_.slice(1, 0, 1), resized.permute({0, 2, 3, 1}).reshape({1, oh * ow, e})}, 1);
}

at::Tensor DinoVitImpl::prepare_tokens(const at::Tensor& x) {
  const at::Tensor patches = embed_patches(x);
  const at::Tensor tokens = at::cat({cls_token_.expand({patches.size(0), 1, config_.embed_dim}), patches}, 1);
  return tokens + interpolate_pos_encoding(x.size(2), x.size(3));
}

DinoVitTrace DinoVitImpl::forward_trace(const at::Tensor& x) {
  DinoVitTrace trace;
  trace.patch_embed = embed_patches(x);
  trace.pos_embed_used = interpolate_pos_encoding(x.size(2), x.size(3));
  at::Tensor h = at::cat({cls_token_.expand({x.size(0), 1, config_.embed_dim}), trace.patch_embed}, 1) + trace.pos_embed_used;
  for (auto& block : blocks_) {
    at::Tensor qkv;
    h = block->forward(h, &qkv);
    trace.qkv.push_back(qkv);
    trace.block_outputs.push_back(h);
  }
  trace.norm_out = norm_->forward(h);
  return trace;
}

at::Tensor DinoVitImpl::forward(const at::Tensor& x) {
  at::Tensor h = prepare_tokens(x);
  for (auto& block : blocks_) h = block->forward(h);
  return norm_->forward(h).select(1, 0);
}

at::Tensor DinoVitImpl::qkv_output(const at::Tensor& x, std::int64_t block) {
  if (block < 0 || block >= config_.depth)
    throw InputError("DINO ViT", "block " + std::to_string(block) + " does not exist (depth " + std::to_string(config_.depth) + ")");
  at::Tensor h = prepare_tokens(x);
  for (std::int64_t i = 0; i < block; ++i) h = blocks_[static_cast<std::size_t>(i)]->forward(h);
  auto& last = blocks_[static_cast<std::size_t>(block)];
  return last->attn->qkv->forward(last->norm1->forward(h));
}

DinoVit load_dino_vit(const std::filesystem::path& dir) {
  const DinoVitConfig config = DinoVitConfig::load(dir / "config.json");
  const auto file = safetensors::File::open(find_weights(dir, "model"));
  DinoVit model(config);
  load_state_dict(*model, file);
  model->eval();
  return model;
}

}  // namespace diffedit::models
