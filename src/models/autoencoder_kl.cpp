#include "models/autoencoder_kl.h"

#include "core/config_keys.h"
#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {

constexpr double kEps = 1e-6;  // every GroupNorm of the VAE

// diffusers' config.json keys, each with the member it fills (core/config_keys.h).
const auto& vae_keys() {
  using C = VAEConfig;
  const auto positive = [] { return Schema::integer().range(1, std::nullopt); };
  static const auto table = std::tuple{
      config::key("in_channels", &C::in_channels, positive()),
      config::key("out_channels", &C::out_channels, positive()),
      config::key("latent_channels", &C::latent_channels, positive()),
      config::key("block_out_channels", &C::block_out_channels, Schema::array(positive()).non_empty()),
      config::key("layers_per_block", &C::layers_per_block, positive()),
      config::key("norm_num_groups", &C::norm_num_groups, positive()),
      config::key("sample_size", &C::sample_size, Schema::one_of({Schema::integer(), Schema::array(Schema::integer())}),
                  [](const Json& v, C& c, const std::string&) {
                    if (v.is_number()) c.sample_size = v;  // a [h, w] pair is informational
                  }),
      config::key("scaling_factor", &C::scaling_factor, Schema::number()),
      config::key("shift_factor", &C::shift_factor, Schema::number().nullable()),
      config::key("use_quant_conv", &C::use_quant_conv, Schema::boolean()),
      config::key("use_post_quant_conv", &C::use_post_quant_conv, Schema::boolean()),
      config::key("mid_block_add_attention", &C::mid_block_add_attention, Schema::boolean()),
      config::key("force_upcast", &C::force_upcast, Schema::boolean()),
  };
  return table;
}

// The keys of the format that the native model does not keep: fixed by it, or not used.
const Schema& vae_schema() {
  static const Schema schema =
      config::object_schema(vae_keys(), {{"_class_name", Schema::string().choices({"AutoencoderKL"})},
                                         {"_diffusers_version", Schema::string()},
                                         {"_name_or_path", Schema::string()},
                                         {"down_block_types", Schema::array(Schema::string().choices({"DownEncoderBlock2D"})).non_empty()},
                                         {"up_block_types", Schema::array(Schema::string().choices({"UpDecoderBlock2D"})).non_empty()},
                                         {"act_fn", Schema::string().choices({"silu"})},
                                         {"latents_mean", Schema::any()},
                                         {"latents_std", Schema::any()}});
  return schema;
}

}  // namespace

VAEConfig VAEConfig::from_json(const Json& json, const std::string& source) {
  const Json j = vae_schema().validate(json, source);
  const VAEConfig c = config::read_keys<VAEConfig>(j, vae_keys(), source);
  const std::size_t n = c.block_out_channels.size();
  for (const char* key : {"down_block_types", "up_block_types"})
    if (j.contains(key) && j[key].size() != n)
      throw ConfigError(source, std::string(key) + " and block_out_channels must have the same length");
  for (auto ch : c.block_out_channels)
    if (ch % c.norm_num_groups != 0)
      throw ConfigError(source, "block_out_channels entry " + std::to_string(ch) + " is not divisible by norm_num_groups");
  return c;
}

VAEConfig VAEConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

VAEMidBlockImpl::VAEMidBlockImpl(std::int64_t channels, std::int64_t groups, bool attention) {
  auto resnets = register_module("resnets", nn::ModuleList());
  for (int i = 0; i < 2; ++i) {
    resnets_.push_back(ResnetBlock2D(channels, channels, 0, groups, kEps));
    resnets->push_back(resnets_.back());
  }
  if (attention) {
    // One head over all channels, with its own GroupNorm and a residual (diffusers' former AttnBlock).
    attention_ = Attention(AttentionOptions{.query_dim = channels,
                                            .heads = 1,
                                            .head_dim = channels,
                                            .bias = true,
                                            .upcast = true,
                                            .norm_groups = groups,
                                            .norm_eps = kEps,
                                            .residual = true});
    register_module("attentions", nn::ModuleList(attention_));
  }
}

at::Tensor VAEMidBlockImpl::forward(const at::Tensor& x) {
  at::Tensor h = resnets_[0]->forward(x);
  if (attention_) h = attention_->forward(h);
  return resnets_[1]->forward(h);
}

AutoencoderKLImpl::AutoencoderKLImpl(const VAEConfig& c) : config_(c) {
  const auto& ch = c.block_out_channels;
  const std::size_t n = ch.size();
  const std::int64_t g = c.norm_num_groups;

  auto encoder = register_module("encoder", std::make_shared<nn::Module>());
  enc_conv_in_ = encoder->register_module("conv_in", conv2d(c.in_channels, ch[0], 3, 1, 1));
  auto down_blocks = encoder->register_module("down_blocks", nn::ModuleList());
  for (std::size_t i = 0; i < n; ++i) {
    auto block = std::make_shared<nn::Module>();
    auto resnets = block->register_module("resnets", nn::ModuleList());
    Stage stage;
    for (std::int64_t l = 0; l < c.layers_per_block; ++l) {
      stage.resnets.push_back(ResnetBlock2D(l == 0 ? (i == 0 ? ch[0] : ch[i - 1]) : ch[i], ch[i], 0, g, kEps));
      resnets->push_back(stage.resnets.back());
    }
    if (i + 1 < n) {
      stage.down = Downsample2D(ch[i], 0);  // asymmetric pad, as the original VAE
      block->register_module("downsamplers", nn::ModuleList(stage.down));
    }
    down_blocks->push_back(block);
    enc_stages_.push_back(std::move(stage));
  }
  enc_mid_ = encoder->register_module("mid_block", VAEMidBlock(ch.back(), g, c.mid_block_add_attention));
  enc_norm_out_ = encoder->register_module("conv_norm_out", group_norm(g, ch.back(), kEps));
  enc_conv_out_ = encoder->register_module("conv_out", conv2d(ch.back(), 2 * c.latent_channels, 3, 1, 1));

  auto decoder = register_module("decoder", std::make_shared<nn::Module>());
  dec_conv_in_ = decoder->register_module("conv_in", conv2d(c.latent_channels, ch.back(), 3, 1, 1));
  dec_mid_ = decoder->register_module("mid_block", VAEMidBlock(ch.back(), g, c.mid_block_add_attention));
  auto up_blocks = decoder->register_module("up_blocks", nn::ModuleList());
  std::int64_t output = ch.back();
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t prev = output;
    output = ch[n - 1 - i];
    auto block = std::make_shared<nn::Module>();
    auto resnets = block->register_module("resnets", nn::ModuleList());
    Stage stage;
    for (std::int64_t l = 0; l < c.layers_per_block + 1; ++l) {
      stage.resnets.push_back(ResnetBlock2D(l == 0 ? prev : output, output, 0, g, kEps));
      resnets->push_back(stage.resnets.back());
    }
    if (i + 1 < n) {
      stage.up = Upsample2D(output);
      block->register_module("upsamplers", nn::ModuleList(stage.up));
    }
    up_blocks->push_back(block);
    dec_stages_.push_back(std::move(stage));
  }
  dec_norm_out_ = decoder->register_module("conv_norm_out", group_norm(g, ch[0], kEps));
  dec_conv_out_ = decoder->register_module("conv_out", conv2d(ch[0], c.out_channels, 3, 1, 1));

  if (c.use_quant_conv) quant_conv_ = register_module("quant_conv", conv2d(2 * c.latent_channels, 2 * c.latent_channels, 1));
  if (c.use_post_quant_conv) post_quant_conv_ = register_module("post_quant_conv", conv2d(c.latent_channels, c.latent_channels, 1));
}

LatentDistribution AutoencoderKLImpl::encode(const at::Tensor& image, Trace* trace) {
  auto record = [&](const std::string& name, const at::Tensor& t) {
    if (trace) (*trace)[name] = t;
  };
  at::Tensor h = enc_conv_in_->forward(image);
  record("encoder.conv_in", h);
  for (std::size_t i = 0; i < enc_stages_.size(); ++i) {
    for (auto& r : enc_stages_[i].resnets) h = r->forward(h);
    if (enc_stages_[i].down) h = enc_stages_[i].down->forward(h);
    record("encoder.down_blocks." + std::to_string(i), h);
  }
  h = enc_mid_->forward(h);
  record("encoder.mid_block", h);
  h = enc_conv_out_->forward(at::silu(enc_norm_out_->forward(h)));
  record("encoder", h);
  if (quant_conv_) h = quant_conv_->forward(h);
  record("quant_conv", h);
  const auto parts = h.chunk(2, 1);
  LatentDistribution d;
  d.mean = parts[0];
  d.logvar = parts[1].clamp(-30.0, 20.0);
  d.std = (d.logvar * 0.5).exp();
  return d;
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& latent, Trace* trace) {
  auto record = [&](const std::string& name, const at::Tensor& t) {
    if (trace) (*trace)[name] = t;
  };
  at::Tensor h = post_quant_conv_ ? post_quant_conv_->forward(latent) : latent;
  record("post_quant_conv", h);
  h = dec_conv_in_->forward(h);
  record("decoder.conv_in", h);
  h = dec_mid_->forward(h);
  record("decoder.mid_block", h);
  for (std::size_t i = 0; i < dec_stages_.size(); ++i) {
    for (auto& r : dec_stages_[i].resnets) h = r->forward(h);
    if (dec_stages_[i].up) h = dec_stages_[i].up->forward(h);
    record("decoder.up_blocks." + std::to_string(i), h);
  }
  return dec_conv_out_->forward(at::silu(dec_norm_out_->forward(h)));
}

AutoencoderKL load_vae(const std::filesystem::path& dir, const std::optional<std::string>& variant) {
  AutoencoderKL vae(VAEConfig::load(dir / "config.json"));
  load_state_dict(*vae, safetensors::File::open(find_weights(dir, "diffusion_pytorch_model", variant)));
  vae->eval();
  return vae;
}

}  // namespace diffedit::models
