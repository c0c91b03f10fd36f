#include "pipelines/pipeline.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "core/config.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/resources.h"

namespace diffedit::pipelines {

namespace {

// model_index.json entries this loader needs, with the classes it can build.
struct Component {
  const char* name;
  std::vector<std::string> classes;
};
const std::vector<Component> kComponents = {
    {"unet", {"UNet2DConditionModel"}},
    {"vae", {"AutoencoderKL", "SpaceToDepthCodec"}},
    {"text_encoder", {"CLIPTextModel", "CLIPTextModelWithProjection"}},
    {"tokenizer", {"CLIPTokenizer", "CLIPTokenizerFast"}},
    {"scheduler", {}},  // any diffusers scheduler: its config supplies the noise schedule
};

void check_model_index(const std::filesystem::path& path) {
  const config::Json index = config::load_json(path);
  if (!index.is_object()) throw FormatError(path.string(), "expected a JSON object");
  for (const auto& c : kComponents) {
    if (!index.contains(c.name)) throw FormatError(path.string(), std::string("no '") + c.name + "' component");
    const auto& entry = index[c.name];
    if (!entry.is_array() || entry.size() != 2 || !entry[1].is_string())
      throw FormatError(path.string(), std::string("'") + c.name + "' must be [library, class]");
    const std::string cls = entry[1];
    if (!c.classes.empty() && std::find(c.classes.begin(), c.classes.end(), cls) == c.classes.end())
      throw FormatError(
          path.string(), std::string("'") + c.name + "' is a " + cls + "; supported: " + [&] {
            std::string s;
            for (const auto& x : c.classes) s += (s.empty() ? "" : ", ") + x;
            return s;
          }());
  }
}

}  // namespace

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return c10::kFloat;
  if (name == "float16" || name == "fp16") return c10::kHalf;
  if (name == "bfloat16" || name == "bf16") return c10::kBFloat16;
  throw InputError("--dtype", "'" + name + "' is not one of float32, float16, bfloat16");
}

void check_device_dtype(c10::Device device, c10::ScalarType dtype) {
  check_device(device);
  if (device.is_cpu() && dtype == c10::kHalf)
    throw InputError("--dtype", "float16 needs --device cuda (libtorch 1.13 has no float16 CPU convolutions); use bfloat16 or float32");
}

StableDiffusion StableDiffusion::load(const std::filesystem::path& dir, const LoadOptions& options) {
  check_device_dtype(options.device, options.dtype);
  check_model_index(dir / "model_index.json");
  StableDiffusion sd;
  sd.dir = dir;
  sd.options = options;
  sd.unet = models::load_unet(dir / "unet", options.variant);
  sd.codec = models::load_space_to_depth_codec(dir / "vae");
  if (!sd.codec) sd.vae = models::load_vae(dir / "vae", options.variant);
  sd.text_encoder = models::load_clip_text(dir / "text_encoder", options.variant);
  sd.tokenizer = text::CLIPTokenizer::load(dir / "tokenizer");
  sd.scheduler = diffusion::SchedulerConfig::load(dir / "scheduler" / "scheduler_config.json");

  const std::int64_t context = sd.text_encoder->config().hidden_size;
  if (context != sd.unet->config().cross_attention_dim)
    throw FormatError((dir / "unet" / "config.json").string(),
                      "cross_attention_dim " + std::to_string(sd.unet->config().cross_attention_dim) +
                          " does not match the text encoder's hidden_size " + std::to_string(context));
  const std::int64_t latent_channels = sd.codec ? sd.codec->latent_channels() : sd.vae->config().latent_channels;
  if (latent_channels != sd.unet->config().in_channels)
    throw FormatError((dir / "unet" / "config.json").string(), "in_channels " + std::to_string(sd.unet->config().in_channels) +
                                                                   " does not match the VAE's latent_channels " +
                                                                   std::to_string(latent_channels));

  sd.vae_dtype = sd.codec || (options.dtype == c10::kHalf && sd.vae->config().force_upcast) ? c10::kFloat : options.dtype;
  sd.unet->to(options.device, options.dtype);
  sd.text_encoder->to(options.device, options.dtype);
  if (sd.vae) sd.vae->to(options.device, sd.vae_dtype);
  sd.denoiser = Denoiser(sd.unet, options.dtype);
  if (options.device.is_cpu()) {
    // The CPU threads this model keeps busy (core/resources.h): a guided call (batch 2) at the
    // UNet's native latent size, at its widest full-resolution block.
    const auto& c = sd.unet->config();
    resources::fit_threads_to_work(2 * c.block_out_channels.front() * c.sample_size * c.sample_size);
  }
  log::debug("loaded ", dir.string(), " (", c10::toString(options.dtype), " on ", options.device.str(), ")");
  return sd;
}

at::Tensor StableDiffusion::encode_prompts(const std::vector<std::string>& prompts, std::int64_t clip_skip) {
  torch::NoGradGuard no_grad;
  const at::Tensor ids = tokenizer.encode_batch(prompts).to(options.device);
  return text_encoder->prompt_embeds(ids, clip_skip);
}

at::Tensor StableDiffusion::decode(const at::Tensor& latents) {
  torch::NoGradGuard no_grad;
  return decode_differentiable(latents);
}

at::Tensor StableDiffusion::decode_differentiable(const at::Tensor& latents) {
  const at::Tensor image = codec ? models::depth_to_space(latents.to(at::kFloat) / scaling_factor(), codec->factor)
                                 : vae->decode((latents / scaling_factor()).to(vae_dtype));
  return (image.to(at::kFloat) / 2 + 0.5).clamp(0, 1);
}

models::LatentDistribution StableDiffusion::encode(const at::Tensor& images01) {
  torch::NoGradGuard no_grad;
  if (codec) {  // a point mass: mode and samples are the folded image
    models::LatentDistribution d;
    d.mean = models::space_to_depth((images01 * 2 - 1).to(options.device, at::kFloat), codec->factor);
    d.std = at::zeros_like(d.mean);
    d.logvar = at::full_like(d.mean, -30.0);  // the VAE's clamp floor
    return d;
  }
  auto d = vae->encode((images01 * 2 - 1).to(options.device, vae_dtype));
  d.mean = d.mean.to(at::kFloat);
  d.std = d.std.to(at::kFloat);
  d.logvar = d.logvar.to(at::kFloat);
  return d;
}

at::Tensor StableDiffusion::to_latents(const models::LatentDistribution& posterior, const at::Tensor& noise) const {
  const at::Tensor z = noise.defined() ? posterior.sample(noise.to(posterior.mean.device())) : posterior.mode();
  return z * scaling_factor();
}

}  // namespace diffedit::pipelines
