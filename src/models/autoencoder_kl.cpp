#include "models/autoencoder_kl.h"

#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {

constexpr double kEps = 1e-6;  // every GroupNorm of the VAE

Schema vae_schema() {
  return Schema::object({
      {"_class_name", Schema::string().choices({"AutoencoderKL"})},
      {"_diffusers_version", Schema::string()},
      {"_name_or_path", Schema::string()},
      {"in_channels", Schema::integer().range(1, std::nullopt)},
      {"out_channels", Schema::integer().range(1, std::nullopt)},
      {"latent_channels", Schema::integer().range(1, std::nullopt)},
      {"down_block_types", Schema::array(Schema::string().choices({"DownEncoderBlock2D"})).non_empty()},
      {"up_block_types", Schema::array(Schema::string().choices({"UpDecoderBlock2D"})).non_empty()},
      {"block_out_channels", Schema::array(Schema::integer().range(1, std::nullopt)).non_empty()},
      {"layers_per_block", Schema::integer().range(1, std::nullopt)},
      {"act_fn", Schema::string().choices({"silu"})},
      {"norm_num_groups", Schema::integer().range(1, std::nullopt)},
      {"sample_size", Schema::one_of({Schema::integer(), Schema::array(Schema::integer())})},
      {"scaling_factor", Schema::number()},
      {"shift_factor", Schema::number().nullable()},
      {"latents_mean", Schema::any()},
      {"latents_std", Schema::any()},
      {"force_upcast", Schema::boolean()},
      {"use_quant_conv", Schema::boolean()},
      {"use_post_quant_conv", Schema::boolean()},
      {"mid_block_add_attention", Schema::boolean()},
  });
}

}  // namespace

VAEConfig VAEConfig::from_json(const Json& json, const std::string& source) {
  const Json j = vae_schema().validate(json, source);
  VAEConfig c;
  c.in_channels = j.value("in_channels", c.in_channels);
  c.out_channels = j.value("out_channels", c.out_channels);
  c.latent_channels = j.value("latent_channels", c.latent_channels);
  if (j.contains("block_out_channels")) c.block_out_channels = j["block_out_channels"].get<std::vector<std::int64_t>>();
  c.layers_per_block = j.value("layers_per_block", c.layers_per_block);
  c.norm_num_groups = j.value("norm_num_groups", c.norm_num_groups);
  if (j.contains("sample_size") && j["sample_size"].is_number()) c.sample_size = j["sample_size"];
  c.scaling_factor = j.value("scaling_factor", c.scaling_factor);
  if (j.contains("shift_factor") && j["shift_factor"].is_number()) c.shift_factor = j["shift_factor"].get<double>();
  c.use_quant_conv = j.value("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = j.value("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = j.value("mid_block_add_attention", c.mid_block_add_attention);
  c.force_upcast = j.value("force_upcast", c.force_upcast);
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
