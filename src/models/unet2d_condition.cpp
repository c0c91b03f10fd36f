#include "models/unet2d_condition.h"

#include "core/config_keys.h"
#include "core/errors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;
using config::Json;
using config::Schema;

namespace {

// Keys diffusers writes into a UNet2DConditionModel config. Each unsupported feature must keep
// its "off" value; anything else is refused by name instead of silently computing a different net.
const std::vector<std::pair<std::string, Json>> kMustBeOff = {{"class_embed_type", nullptr},
                                                              {"addition_embed_type", nullptr},
                                                              {"time_cond_proj_dim", nullptr},
                                                              {"encoder_hid_dim", nullptr},
                                                              {"encoder_hid_dim_type", nullptr},
                                                              {"num_class_embeds", nullptr},
                                                              {"projection_class_embeddings_input_dim", nullptr},
                                                              {"addition_time_embed_dim", nullptr},
                                                              {"timestep_post_act", nullptr},
                                                              {"time_embedding_act_fn", nullptr},
                                                              {"cross_attention_norm", nullptr},
                                                              {"reverse_transformer_layers_per_block", nullptr},
                                                              {"mid_block_only_cross_attention", nullptr},
                                                              {"dual_cross_attention", false},
                                                              {"only_cross_attention", false},
                                                              {"center_input_sample", false},
                                                              {"class_embeddings_concat", false},
                                                              {"resnet_skip_time_act", false},
                                                              {"resnet_time_scale_shift", "default"},
                                                              {"time_embedding_type", "positional"},
                                                              {"act_fn", "silu"},
                                                              {"attention_type", "default"},
                                                              {"mid_block_type", "UNetMidBlock2DCrossAttn"}};

std::vector<std::int64_t> per_block(const Json& value, const char* key, std::size_t blocks, const std::string& source) {
  if (value.is_number()) return std::vector<std::int64_t>(blocks, value.get<std::int64_t>());
  auto list = value.get<std::vector<std::int64_t>>();
  if (list.size() != blocks)
    throw ConfigError(source,
                      std::string(key) + " has " + std::to_string(list.size()) + " entries for " + std::to_string(blocks) + " blocks");
  return list;
}

// One count for every block, or a list of one per block.
Schema per_block_schema() {
  return Schema::one_of({Schema::integer().range(1, std::nullopt), Schema::array(Schema::integer().range(1, std::nullopt))}).nullable();
}

// A key whose value is per_block_schema().
template <std::vector<std::int64_t> UNetConfig::*member>
auto per_block_key(const char* name) {
  return config::key(name, member, per_block_schema(), [name](const Json& v, UNetConfig& c, const std::string& source) {
    c.*member = per_block(v, name, c.block_out_channels.size(), source);
  });
}

// diffusers' config.json keys, each with the member it fills (core/config_keys.h); the block
// lists come first, so that the per-block keys after them know the number of blocks.
const auto& unet_keys() {
  using C = UNetConfig;
  const auto positive = [] { return Schema::integer().range(1, std::nullopt); };
  static const auto table = std::tuple{
      config::key("in_channels", &C::in_channels, positive()),
      config::key("out_channels", &C::out_channels, positive()),
      config::key("sample_size", &C::sample_size, Schema::one_of({Schema::integer(), Schema::array(Schema::integer())}).nullable(),
                  [](const Json& v, C& c, const std::string&) {
                    if (v.is_number()) c.sample_size = v;  // a [h, w] pair is informational
                  }),
      config::key("down_block_types", &C::down_block_types,
                  Schema::array(Schema::string().choices({"CrossAttnDownBlock2D", "DownBlock2D"})).non_empty().required()),
      config::key("up_block_types", &C::up_block_types,
                  Schema::array(Schema::string().choices({"CrossAttnUpBlock2D", "UpBlock2D"})).non_empty().required()),
      config::key("block_out_channels", &C::block_out_channels, Schema::array(positive()).non_empty().required()),
      per_block_key<&C::layers_per_block>("layers_per_block"),
      per_block_key<&C::transformer_layers_per_block>("transformer_layers_per_block"),
      // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (a historical misnomer).
      per_block_key<&C::num_attention_heads>("num_attention_heads"),
      config::key("cross_attention_dim", &C::cross_attention_dim, positive()),
      config::key("norm_num_groups", &C::norm_num_groups, positive()),
      config::key("norm_eps", &C::norm_eps, Schema::number().range(0, std::nullopt)),
      config::key("downsample_padding", &C::downsample_padding, Schema::integer().range(0, 1)),
      config::key("mid_block_scale_factor", &C::mid_block_scale_factor, Schema::number()),
      config::key("resnet_out_scale_factor", &C::resnet_out_scale_factor, Schema::number()),
      config::key("flip_sin_to_cos", &C::flip_sin_to_cos, Schema::boolean()),
      config::key("freq_shift", &C::freq_shift, Schema::number()),
      config::key("time_embedding_dim", &C::time_embedding_dim, Schema::integer().nullable()),
      config::key("use_linear_projection", &C::use_linear_projection, Schema::boolean()),
      config::key("upcast_attention", &C::upcast_attention, Schema::boolean()),
      config::key("conv_in_kernel", &C::conv_in_kernel, positive()),
      config::key("conv_out_kernel", &C::conv_out_kernel, positive()),
  };
  return table;
}

const Schema& unet_schema() {
  static const Schema schema = [] {
    std::vector<Schema::Field> ignored = {
        {"_class_name", Schema::string().choices({"UNet2DConditionModel"})},
        {"_diffusers_version", Schema::string()},
        {"_name_or_path", Schema::string()},
        {"attention_head_dim", per_block_schema()},  // read as num_attention_heads when that is unset
        {"dropout", Schema::number()},
        {"addition_embed_type_num_heads", Schema::any()},
    };
    for (const auto& [key, off] : kMustBeOff) ignored.push_back({key, Schema::any()});
    return config::object_schema(unet_keys(), std::move(ignored));
  }();
  return schema;
}

}  // namespace

UNetConfig UNetConfig::from_json(const Json& json, const std::string& source) {
  const Json j = unet_schema().validate(json, source);
  for (const auto& [key, off] : kMustBeOff)
    if (j.contains(key) && j[key] != off)
      throw ConfigError(source, "'" + key + "' = " + j[key].dump() + " is not supported (only " + off.dump() + ")");
  UNetConfig c = config::read_keys<UNetConfig>(j, unet_keys(), source);
  const std::size_t n = c.block_out_channels.size();
  if (c.down_block_types.size() != n || c.up_block_types.size() != n)
    throw ConfigError(source, "down_block_types, up_block_types and block_out_channels must have the same length");
  // Per-block keys that are absent take diffusers' defaults.
  if (c.layers_per_block.empty()) c.layers_per_block.assign(n, 2);
  if (c.transformer_layers_per_block.empty()) c.transformer_layers_per_block.assign(n, 1);
  if (c.num_attention_heads.empty())
    c.num_attention_heads = j.contains("attention_head_dim") && !j["attention_head_dim"].is_null()
                                ? per_block(j["attention_head_dim"], "attention_head_dim", n, source)
                                : std::vector<std::int64_t>(n, 8);

  for (std::size_t i = 0; i < n; ++i) {
    if (c.block_out_channels[i] % c.norm_num_groups != 0)
      throw ConfigError(source, "block_out_channels[" + std::to_string(i) + "] = " + std::to_string(c.block_out_channels[i]) +
                                    " is not divisible by norm_num_groups = " + std::to_string(c.norm_num_groups));
    if (c.block_out_channels[i] % c.num_attention_heads[i] != 0)
      throw ConfigError(source, "block_out_channels[" + std::to_string(i) + "] is not divisible by its number of attention heads");
  }
  return c;
}

UNetConfig UNetConfig::load(const std::filesystem::path& path) { return from_json(config::load_json(path), path.string()); }

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNetConfig& c) : config_(c) {
  const auto& ch = c.block_out_channels;
  const std::size_t n = ch.size();
  const std::int64_t temb = c.time_embedding_dim > 0 ? c.time_embedding_dim : 4 * ch[0];

  conv_in_ = register_module("conv_in", conv2d(c.in_channels, ch[0], c.conv_in_kernel, 1, (c.conv_in_kernel - 1) / 2));
  auto time_embedding = register_module("time_embedding", std::make_shared<nn::Module>());
  linear_1_ = time_embedding->register_module("linear_1", nn::Linear(ch[0], temb));
  linear_2_ = time_embedding->register_module("linear_2", nn::Linear(temb, temb));

  auto down_blocks = register_module("down_blocks", nn::ModuleList());
  for (std::size_t i = 0; i < n; ++i) {
    const bool attention = c.down_block_types[i] == "CrossAttnDownBlock2D";
    const std::int64_t in = i == 0 ? ch[0] : ch[i - 1], out = ch[i];
    auto block = std::make_shared<nn::Module>();
    Level level;
    auto resnets = block->register_module("resnets", nn::ModuleList());
    auto attentions = attention ? block->register_module("attentions", nn::ModuleList()) : nullptr;
    for (std::int64_t l = 0; l < c.layers_per_block[i]; ++l) {
      level.resnets.push_back(ResnetBlock2D(l == 0 ? in : out, out, temb, c.norm_num_groups, c.norm_eps, c.resnet_out_scale_factor));
      resnets->push_back(level.resnets.back());
      if (attention) {
        level.attentions.push_back(Transformer2D(out, c.num_attention_heads[i], c.cross_attention_dim, c.norm_num_groups,
                                                 c.transformer_layers_per_block[i], c.use_linear_projection, c.upcast_attention));
        attentions->push_back(level.attentions.back());
      }
    }
    if (i + 1 < n) {
      level.down = Downsample2D(out, c.downsample_padding);
      block->register_module("downsamplers", nn::ModuleList(level.down));
    }
    down_blocks->push_back(block);
    down_.push_back(std::move(level));
  }

  {  // mid block: resnet, transformer, resnet
    auto block = register_module("mid_block", std::make_shared<nn::Module>());
    const std::int64_t c_mid = ch.back();
    auto resnets = block->register_module("resnets", nn::ModuleList());
    auto attentions = block->register_module("attentions", nn::ModuleList());
    for (int r = 0; r < 2; ++r) {
      mid_.resnets.push_back(ResnetBlock2D(c_mid, c_mid, temb, c.norm_num_groups, c.norm_eps, c.mid_block_scale_factor));
      resnets->push_back(mid_.resnets.back());
    }
    mid_.attentions.push_back(Transformer2D(c_mid, c.num_attention_heads.back(), c.cross_attention_dim, c.norm_num_groups,
                                            c.transformer_layers_per_block.back(), c.use_linear_projection, c.upcast_attention));
    attentions->push_back(mid_.attentions.back());
  }

  auto up_blocks = register_module("up_blocks", nn::ModuleList());
  std::int64_t output = ch.back();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = n - 1 - i;  // index into the reversed per-block lists
    const bool attention = c.up_block_types[i] == "CrossAttnUpBlock2D";
    const std::int64_t prev_output = output;
    output = ch[r];
    const std::int64_t input = ch[n - 1 - std::min(i + 1, n - 1)];  // reversed_block_out_channels[min(i+1, n-1)]
    const std::int64_t layers = c.layers_per_block[r] + 1;
    auto block = std::make_shared<nn::Module>();
    Level level;
    auto resnets = block->register_module("resnets", nn::ModuleList());
    auto attentions = attention ? block->register_module("attentions", nn::ModuleList()) : nullptr;
    for (std::int64_t l = 0; l < layers; ++l) {
      const std::int64_t skip = l == layers - 1 ? input : output;
      const std::int64_t res_in = l == 0 ? prev_output : output;
      level.resnets.push_back(ResnetBlock2D(res_in + skip, output, temb, c.norm_num_groups, c.norm_eps, c.resnet_out_scale_factor));
      resnets->push_back(level.resnets.back());
      if (attention) {
        level.attentions.push_back(Transformer2D(output, c.num_attention_heads[r], c.cross_attention_dim, c.norm_num_groups,
                                                 c.transformer_layers_per_block[r], c.use_linear_projection, c.upcast_attention));
        attentions->push_back(level.attentions.back());
      }
    }
    if (i + 1 < n) {
      level.up = Upsample2D(output);
      block->register_module("upsamplers", nn::ModuleList(level.up));
    }
    up_blocks->push_back(block);
    up_.push_back(std::move(level));
  }

  conv_norm_out_ = register_module("conv_norm_out", group_norm(c.norm_num_groups, ch[0], c.norm_eps));
  conv_out_ = register_module("conv_out", conv2d(ch[0], c.out_channels, c.conv_out_kernel, 1, (c.conv_out_kernel - 1) / 2));
}

at::Tensor UNet2DConditionModelImpl::forward(const at::Tensor& sample, const at::Tensor& timesteps, const at::Tensor& context,
                                             Trace* trace) {
  auto record = [&](const std::string& name, const at::Tensor& t) {
    if (trace) (*trace)[name] = t;
  };
  const std::int64_t batch = sample.size(0);
  at::Tensor t = timesteps.dim() == 0 ? timesteps.unsqueeze(0) : timesteps;
  t = t.to(sample.device()).expand({batch});

  // 1. time
  const at::Tensor t_emb =
      timestep_embedding(t, config_.block_out_channels[0], config_.flip_sin_to_cos, config_.freq_shift).to(sample.scalar_type());
  record("time_proj", t_emb);
  const at::Tensor emb = linear_2_->forward(at::silu(linear_1_->forward(t_emb)));
  record("time_embedding", emb);

  // 2. down
  at::Tensor h = conv_in_->forward(sample);
  record("conv_in", h);
  std::vector<at::Tensor> skips{h};
  for (std::size_t i = 0; i < down_.size(); ++i) {
    auto& level = down_[i];
    for (std::size_t l = 0; l < level.resnets.size(); ++l) {
      h = level.resnets[l]->forward(h, emb);
      if (!level.attentions.empty()) h = level.attentions[l]->forward(h, context);
      skips.push_back(h);
    }
    if (level.down) {
      h = level.down->forward(h);
      skips.push_back(h);
    }
    record("down_blocks." + std::to_string(i), h);
  }

  // 3. mid
  h = mid_.resnets[0]->forward(h, emb);
  h = mid_.attentions[0]->forward(h, context);
  h = mid_.resnets[1]->forward(h, emb);
  record("mid_block", h);

  // 4. up: each resnet takes cat([h, skip]); odd sizes upsample to the matching skip's size.
  const std::int64_t factor = std::int64_t{1} << (up_.size() - 1);
  const bool forward_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;
  for (std::size_t i = 0; i < up_.size(); ++i) {
    auto& level = up_[i];
    for (std::size_t l = 0; l < level.resnets.size(); ++l) {
      h = level.resnets[l]->forward(at::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
      if (!level.attentions.empty()) h = level.attentions[l]->forward(h, context);
    }
    if (level.up) {
      std::optional<std::vector<std::int64_t>> size;
      if (forward_size) size = std::vector<std::int64_t>{skips.back().size(2), skips.back().size(3)};
      h = level.up->forward(h, size);
    }
    record("up_blocks." + std::to_string(i), h);
  }

  // 5. out
  h = conv_norm_out_->forward(h);
  record("conv_norm_out", h);
  return conv_out_->forward(at::silu(h));
}

template <typename F>
void UNet2DConditionModelImpl::for_each_attention(F&& f) const {
  std::int64_t index = 0;
  auto visit = [&](const std::vector<Transformer2D>& transformers, UNetPlace place, std::int64_t block) {
    for (std::size_t l = 0; l < transformers.size(); ++l) {
      const auto& blocks = transformers[l]->blocks();
      for (std::size_t t = 0; t < blocks.size(); ++t) {  // ptr(): the modules themselves, not const views
        const auto layer = static_cast<std::int64_t>(l), transformer = static_cast<std::int64_t>(t);
        f(*blocks[t].ptr()->attn1.ptr(), AttentionSite{index++, false, place, block, layer, transformer});
        f(*blocks[t].ptr()->attn2.ptr(), AttentionSite{index++, true, place, block, layer, transformer});
      }
    }
  };
  for (std::size_t i = 0; i < down_.size(); ++i) visit(down_[i].attentions, UNetPlace::down, static_cast<std::int64_t>(i));
  visit(mid_.attentions, UNetPlace::mid, 0);
  for (std::size_t i = 0; i < up_.size(); ++i) visit(up_[i].attentions, UNetPlace::up, static_cast<std::int64_t>(i));
}

template <typename F>
void UNet2DConditionModelImpl::for_each_resnet(F&& f) const {
  auto visit = [&](const std::vector<ResnetBlock2D>& resnets, UNetPlace place, std::int64_t block) {
    for (std::size_t l = 0; l < resnets.size(); ++l) f(*resnets[l].ptr(), ResnetSite{place, block, static_cast<std::int64_t>(l)});
  };
  for (std::size_t i = 0; i < down_.size(); ++i) visit(down_[i].resnets, UNetPlace::down, static_cast<std::int64_t>(i));
  visit(mid_.resnets, UNetPlace::mid, 0);
  for (std::size_t i = 0; i < up_.size(); ++i) visit(up_[i].resnets, UNetPlace::up, static_cast<std::int64_t>(i));
}

void UNet2DConditionModelImpl::set_attention_hook(AttentionHook* hook) {
  for_each_attention([&](AttentionImpl& attention, const AttentionSite& site) { attention.set_hook(hook, site); });
}

void UNet2DConditionModelImpl::set_resnet_hook(ResnetHook* hook) {
  for_each_resnet([&](ResnetBlock2DImpl& resnet, const ResnetSite& site) { resnet.set_hook(hook, site); });
}

std::vector<AttentionSite> UNet2DConditionModelImpl::attention_sites() const {
  std::vector<AttentionSite> sites;
  for_each_attention([&](AttentionImpl&, const AttentionSite& site) { sites.push_back(site); });
  return sites;
}

std::vector<ResnetSite> UNet2DConditionModelImpl::resnet_sites() const {
  std::vector<ResnetSite> sites;
  for_each_resnet([&](ResnetBlock2DImpl&, const ResnetSite& site) { sites.push_back(site); });
  return sites;
}

UNet2DConditionModel load_unet(const std::filesystem::path& dir, const std::optional<std::string>& variant) {
  const UNetConfig config = UNetConfig::load(dir / "config.json");
  UNet2DConditionModel model(config);
  const auto weights = safetensors::File::open(find_weights(dir, "diffusion_pytorch_model", variant));
  load_state_dict(*model, weights);
  model->eval();
  return model;
}

}  // namespace diffedit::models
