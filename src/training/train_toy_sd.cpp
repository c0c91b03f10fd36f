#include "training/train_toy_sd.h"

#include <ATen/ATen.h>
#include <torch/optim.h>

#include <cmath>
#include <optional>

#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "diffusion/scheduler_config.h"
#include "models/clip_text.h"
#include "models/space_to_depth_codec.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "text/clip_tokenizer.h"
#include "training/checkpoint.h"

namespace diffedit::training {

namespace {
using config::Json;
using config::Schema;
namespace nn = torch::nn;

// The two trained networks under one module, so checkpoints and the EMA see one parameter tree.
class ToySDImpl : public nn::Module {
 public:
  ToySDImpl(const models::UNetConfig& u, const models::CLIPTextConfig& t)
      : unet(register_module("unet", models::UNet2DConditionModel(u))),
        text_encoder(register_module("text_encoder", models::CLIPTextModel(t, false))) {}
  models::UNet2DConditionModel unet;
  models::CLIPTextModel text_encoder;
};
TORCH_MODULE(ToySD);

// Training state: the trained model and its EMA (the EMA is not optimised).
class StateImpl : public nn::Module {
 public:
  StateImpl(const models::UNetConfig& u, const models::CLIPTextConfig& t)
      : model(register_module("model", ToySD(u, t))), ema(register_module("ema", ToySD(u, t))) {}
  ToySD model, ema;
};
TORCH_MODULE(State);
}  // namespace

const Schema& toy_sd_schema() {
  static const Schema schema = training_schema(
      "toy-sd", {4000, 64, 1e-3, 200, 0.01},
      {
          {"ema_decay", Schema::number().range(0, 1).def(0.999)},
          {"cond_dropout", Schema::number().range(0, 1).def(0.1).doc("probability of the empty prompt (classifier-free guidance)")},
          {"class_prompt", Schema::number().range(0, 1).def(0.3).doc("probability of the class-name prompt instead of the caption")},
          {"snr_gamma", Schema::number().range(0, 1e6).def(0.0).doc("min-SNR-gamma loss weighting (Hang et al. 2023); 0 = unweighted")},
          {"object_weight", Schema::number().range(0, 1e3).def(0.0).doc("extra loss weight on the objects' pixels (instance masks "
                                                                        "grown by one pixel); 0 = every pixel alike")},
          {"tokenizer", Schema::string().required().doc("directory with the CLIP tokenizer files (copied into the model)")},
          {"codec", Schema::any().required().doc("vae/config.json: a SpaceToDepthCodec")},
          {"unet", Schema::any().required().doc("unet/config.json in diffusers' format")},
          {"text_encoder",
           Schema::any().doc("text_encoder/config.json in transformers' format: a text encoder trained jointly from scratch")},
          {"text_encoder_from",
           Schema::string().doc("instead of text_encoder: a trained CLIP model directory (CLIPModel or CLIPTextModel "
                                "layout) whose text tower is copied and kept frozen, as Stable Diffusion keeps CLIP's")},
          {"text_encoder_layers", Schema::integer()
                                      .range(0, std::nullopt)
                                      .doc("with text_encoder_from: keep only the tower's first k "
                                           "layers (the prompt embeddings of clip_skip = layers - k); "
                                           "default: all")},
          {"scheduler", Schema::any().required().doc("scheduler/scheduler_config.json in diffusers' format")},
          {"init_unet_from", Schema::string().doc("a trained toy-sd directory whose UNet starts this run (fine-tuning, e.g. from "
                                                  "epsilon to v_prediction as Stable Diffusion 2 was); the optimiser starts fresh")},
      });
  return schema;
}

at::Tensor loss_weights(const at::Tensor& alpha_bar, diffusion::PredictionType prediction, double snr_gamma) {
  if (snr_gamma <= 0) return at::ones_like(alpha_bar);
  const at::Tensor snr = alpha_bar / (1 - alpha_bar);
  // The x0-loss weight min(SNR, gamma), expressed for the network's target: the epsilon loss is
  // SNR times the x0 loss, the v loss SNR + 1 times.
  const at::Tensor x0_weight = at::clamp_max(snr, snr_gamma);
  return prediction == diffusion::PredictionType::v_prediction ? x0_weight / (snr + 1) : x0_weight / snr;
}

at::Tensor object_weight_map(const std::vector<at::Tensor>& masks, double object_weight, std::int64_t channels, std::int64_t factor) {
  std::vector<at::Tensor> unions;
  for (const auto& m : masks) unions.push_back(std::get<0>(m.to(at::kFloat).max(0, true)));  // [1, H, W]
  const at::Tensor grown = at::max_pool2d(at::stack(unions), {3, 3}, {1, 1}, {1, 1});        // [B, 1, H, W]
  return models::space_to_depth((1 + object_weight * grown).expand({-1, channels, -1, -1}), factor);
}

std::string training_prompt(const std::string& caption, const std::string& class_name, double u, double dropout, double class_prompt) {
  if (u < dropout) return "";
  if (u < dropout + class_prompt) return class_name;
  return caption;
}

FrozenTextEncoder frozen_text_encoder(const std::filesystem::path& dir) {
  const std::filesystem::path config_file = dir / "config.json";
  const Json config = config::load_json(config_file);
  // A CLIPModel nests the text tower's config; a CLIPTextModel is it. Both name weights text_model.*.
  Json json = config.contains("text_config") ? config["text_config"] : config;
  json.erase("architectures");
  auto text_config = models::CLIPTextConfig::from_json(json, config_file.string());
  return {std::move(json), std::move(text_config), models::find_weights(dir, "model")};
}

namespace {

// The starting weights: small token and position embeddings (CLIP's initialiser), the frozen
// tower's weights, the UNet of `init_unet_from`, and the EMA equal to the model.
void initialise(StateImpl& state, const Json& c, const std::filesystem::path& base, const std::optional<FrozenTextEncoder>& frozen,
                const std::vector<std::string>& dropped_layers) {
  torch::NoGradGuard no_grad;
  // Token and position embeddings start small (CLIP's initialiser), not libtorch's N(0, 1).
  for (auto& p : state.model->text_encoder->named_parameters(true))
    if (p.key().find("embedding") != std::string::npos) p.value().normal_(0, 0.02);
  if (frozen) {
    // A CLIPModel file also holds the vision tower and both projections; the text tower uses none of them.
    std::vector<std::string> unused = {"vision_model.*", "visual_projection.weight", "text_projection.weight", "logit_scale",
                                       "text_model.embeddings.position_ids"};
    unused.insert(unused.end(), dropped_layers.begin(), dropped_layers.end());
    models::load_state_dict(*state.model->text_encoder, safetensors::File::open(frozen->weights), "", unused);
    for (auto& p : state.model->text_encoder->parameters()) p.set_requires_grad(false);
  }
  if (c.contains("init_unet_from")) {
    // load_state_dict names the file and every mismatched tensor when the architectures differ.
    const std::filesystem::path dir = config_path(c, "init_unet_from", base) / "unet";
    models::load_state_dict(*state.model->unet, safetensors::File::open(models::find_weights(dir, "diffusion_pytorch_model")));
  }
  for (auto& p : state.ema->named_parameters(true)) {
    p.value().copy_(state.model->named_parameters(true)[p.key()]);
    p.value().set_requires_grad(false);
  }
}

// The shipped model: the EMA weights in the diffusers StableDiffusionPipeline layout.
void write_pipeline_directory(const std::filesystem::path& out, ToySDImpl& ema, const Json& c, const Json& text_json,
                              const models::SpaceToDepthConfig& codec, const std::filesystem::path& tokenizer_dir) {
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"producer", "diffedit train"}};
  for (const char* sub : {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}) std::filesystem::create_directories(out / sub);
  safetensors::write(out / "unet" / "diffusion_pytorch_model.safetensors", models::parameter_tensors(*ema.unet), meta);
  safetensors::write(out / "text_encoder" / "model.safetensors", models::parameter_tensors(*ema.text_encoder), meta);
  Json unet_json = c["unet"];
  unet_json["_class_name"] = "UNet2DConditionModel";
  fs::write_atomic(out / "unet" / "config.json", unet_json.dump(2));
  Json text_out = text_json;
  text_out["architectures"] = Json::array({"CLIPTextModel"});
  fs::write_atomic(out / "text_encoder" / "config.json", text_out.dump(2));
  fs::write_atomic(out / "vae" / "config.json", codec.to_json().dump(2));
  Json sched_json = c["scheduler"];
  fs::write_atomic(out / "scheduler" / "scheduler_config.json", sched_json.dump(2));
  copy_tokenizer_files(tokenizer_dir, out / "tokenizer");
  const Json index = {{"_class_name", "StableDiffusionPipeline"},
                      {"_diffusers_version", "0.31.0"},
                      {"unet", {"diffusers", "UNet2DConditionModel"}},
                      {"vae", {"diffedit", "SpaceToDepthCodec"}},
                      {"text_encoder", {"transformers", "CLIPTextModel"}},
                      {"tokenizer", {"transformers", "CLIPTokenizer"}},
                      {"scheduler", {"diffusers", sched_json.value("_class_name", std::string("DDIMScheduler"))}},
                      {"safety_checker", {nullptr, nullptr}},
                      {"feature_extractor", {nullptr, nullptr}}};
  fs::write_atomic(out / "model_index.json", index.dump(2));
}

}  // namespace

TrainSummary train_toy_sd(const Json& c, const std::filesystem::path& out, bool resume, const std::filesystem::path& base,
                          c10::Device device) {
  std::filesystem::create_directories(out);
  const auto unet_config = models::UNetConfig::from_json(c["unet"], "config: unet");
  if (c.contains("text_encoder") == c.contains("text_encoder_from"))
    throw ConfigError("config", "give exactly one of text_encoder (trained jointly) and text_encoder_from (frozen)");
  std::optional<FrozenTextEncoder> frozen =
      c.contains("text_encoder_from") ? std::optional(frozen_text_encoder(config_path(c, "text_encoder_from", base))) : std::nullopt;
  if (c.contains("text_encoder_layers") && !frozen) throw ConfigError("config: text_encoder_layers", "needs text_encoder_from");
  // The layers above k are dropped, so the shipped text_encoder/ is a k-layer CLIPTextModel whose
  // last_hidden_state is the full tower's clip_skip output: no pipeline needs to know of a skip.
  std::vector<std::string> dropped_layers;
  if (frozen && c.contains("text_encoder_layers")) {
    const std::int64_t k = c["text_encoder_layers"], all = frozen->config.num_hidden_layers;
    if (k > all)
      throw ConfigError("config: text_encoder_layers", std::to_string(k) + " exceeds the tower's " + std::to_string(all) + " layers");
    for (std::int64_t i = k; i < all; ++i) dropped_layers.push_back("text_model.encoder.layers." + std::to_string(i) + ".*");
    frozen->config.num_hidden_layers = k;
    frozen->json["num_hidden_layers"] = k;
  }
  const Json text_json = frozen ? frozen->json : c["text_encoder"];
  const auto text_config = frozen ? frozen->config : models::CLIPTextConfig::from_json(text_json, "config: text_encoder");
  const auto codec = models::SpaceToDepthConfig::from_json(c["codec"], "config: codec");
  const auto scheduler = diffusion::SchedulerConfig::from_json(c["scheduler"], "config: scheduler");
  if (codec.latent_channels() != unet_config.in_channels || unet_config.out_channels != unet_config.in_channels)
    throw ConfigError("config: unet", "in/out_channels must equal the codec's latent channels " + std::to_string(codec.latent_channels()));
  if (text_config.hidden_size != unet_config.cross_attention_dim)
    throw ConfigError("config: unet", "cross_attention_dim must equal the text encoder's hidden_size");
  if (scheduler.prediction_type == diffusion::PredictionType::sample)
    throw ConfigError("config: scheduler", "toy-sd trains epsilon or v_prediction");
  const std::filesystem::path tokenizer_dir = config_path(c, "tokenizer", base);
  const auto tokenizer = text::CLIPTokenizer::load(tokenizer_dir);
  if (tokenizer.max_length() > text_config.max_position_embeddings)
    throw ConfigError("config: text_encoder", "max_position_embeddings is below the tokenizer's max length");

  torch::manual_seed(c["seed"].get<std::uint64_t>());
  State state(unet_config, text_config);
  initialise(*state, c, base, frozen, dropped_layers);
  // A frozen text encoder is not optimised (its EMA stays equal to it).
  std::vector<at::Tensor> trained;
  for (const auto& p : state->model->parameters())
    if (p.requires_grad()) trained.push_back(p);
  torch::optim::AdamW optimizer(trained, torch::optim::AdamWOptions(c["lr"].get<double>()).weight_decay(c["weight_decay"].get<double>()));
  TrainingProgress progress = start_or_resume(out, *state, optimizer, resume);
  move_to_device(*state, optimizer, device);

  const diffusion::NoiseSchedule schedule(scheduler);
  const at::Tensor alpha_bar = schedule.alphas_cumprod.to(at::kFloat);
  const std::int64_t steps = c["steps"], batch = c["batch_size"];
  const std::uint64_t world_seed = c["world_seed"], seed = c["seed"];
  const auto world = data::toyworld::world_from_json(c["world"], "config: world");
  const double dropout = c["cond_dropout"], class_prompt = c["class_prompt"], snr_gamma = c["snr_gamma"];
  const double object_weight = c["object_weight"];
  const bool v_prediction = scheduler.prediction_type == diffusion::PredictionType::v_prediction;
  const std::size_t history_start = progress.history.size();
  diffedit::Progress bar("train toy-sd", steps - progress.step);
  state->model->train();
  for (std::int64_t step = progress.step; step < steps; ++step) {
    // Everything random in step `step` comes from its own CPU generator: resuming replays it
    // exactly, and every device sees the same data, timesteps and noise.
    auto gen = rng::cpu_generator(rng::derive_seed(seed, "toy-sd/step/" + std::to_string(step)));
    const at::Tensor u = at::rand({batch}, gen, at::kDouble);
    std::vector<at::Tensor> images, masks;
    std::vector<std::string> prompts;
    const auto items = data::toyworld::generate_batch("train", step * batch, batch, world_seed, world);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto& item = items[static_cast<std::size_t>(b)];
      images.push_back(item.image);
      masks.push_back(item.instance_masks);
      prompts.push_back(training_prompt(item.caption, data::toyworld::class_name(item.label), u[b].item<double>(), dropout, class_prompt));
    }
    const at::Tensor x0 = (models::space_to_depth(at::stack(images) * 2 - 1, codec.factor) * codec.scaling_factor).to(device);
    const at::Tensor t_cpu = at::randint(0, schedule.size(), {batch}, gen, at::kLong);
    const at::Tensor noise = at::randn(x0.sizes(), gen, at::kFloat).to(device);
    const at::Tensor t = t_cpu.to(device);
    const at::Tensor ab = alpha_bar.index_select(0, t_cpu).view({batch, 1, 1, 1}).to(device);
    const at::Tensor xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise;

    set_lr(optimizer, warmup_cosine_lr(c["lr"].get<double>(), c["warmup"].get<std::int64_t>(), step, steps));
    optimizer.zero_grad();
    const at::Tensor context = [&] {
      torch::AutoGradMode grad(!frozen);
      return state->model->text_encoder->prompt_embeds(tokenizer.encode_batch(prompts).to(device));
    }();
    // v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho 2022): its error maps to a bounded x0 error at
    // every noise level, where epsilon's is amplified by 1/sqrt(a) at high noise.
    const at::Tensor target = v_prediction ? ab.sqrt() * noise - (1 - ab).sqrt() * x0 : noise;
    const at::Tensor error = (state->model->unet->forward(xt, t, context) - target).pow(2);
    // Object weighting keeps each sample's total weight: a weighted mean over its elements.
    const at::Tensor per_sample = [&] {
      if (object_weight <= 0) return error.mean({1, 2, 3});
      const at::Tensor w = object_weight_map(masks, object_weight, codec.in_channels, codec.factor).to(device);
      return (error * w).sum({1, 2, 3}) / w.sum({1, 2, 3});
    }();
    const at::Tensor loss = (per_sample * loss_weights(ab.flatten(), scheduler.prediction_type, snr_gamma)).mean();
    loss.backward();
    optimizer.step();
    ema_update(*state->ema, *state->model, c["ema_decay"].get<double>(), step);
    end_step(loss.item<double>(), step, progress, bar, out, *state, optimizer, c);
  }
  bar.finish();
  state->to(c10::kCPU);

  write_pipeline_directory(out, *state->ema, c, text_json, codec, tokenizer_dir);
  // The loss curve (means over 100-step windows) beside the config, for the model card.
  fs::write_atomic(out / "training.json",
                   Json{{"config", c}, {"steps", progress.step}, {"loss_curve", loss_curve(progress.history, 100)}}.dump(1));
  return summarize(progress.history, history_start, progress.step);
}

}  // namespace diffedit::training
