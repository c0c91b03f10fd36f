#include "editing/pnp.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing::pnp {

using config::Json;
using config::Schema;

namespace {

std::pair<std::int64_t, std::int64_t> pair_from(const Json& p, const char* key, std::pair<std::int64_t, std::int64_t> def) {
  if (!p.contains(key)) return def;
  const Json& j = p.at(key);
  if (!j.is_array() || j.size() != 2 || !j[0].is_number_integer() || !j[1].is_number_integer() || j[0].get<std::int64_t>() < 0 ||
      j[1].get<std::int64_t>() < 0)
    throw ConfigError(key, "expected [block, layer] (two non-negative integers), got " + j.dump());
  return {j[0].get<std::int64_t>(), j[1].get<std::int64_t>()};
}

std::string name_of(const char* what, std::pair<std::int64_t, std::int64_t> at) {
  return "up_blocks[" + std::to_string(at.first) + "]." + what + "[" + std::to_string(at.second) + "]";
}

// Rows [source, target uncond, target cond] <- the source row's.
at::Tensor from_source(const at::Tensor& t) {
  if (t.size(0) != 3)
    throw std::invalid_argument("pnp::Injection: expected the batch [source, target, target], got " + std::to_string(t.size(0)) + " rows");
  return t.narrow(0, 0, 1).expand_as(t).contiguous();
}

}  // namespace

std::vector<Schema::Field> parameter_fields() {
  std::vector<Schema::Field> fields = {
      {"reference_text",
       Schema::string().choices({"dataset", "none"}).def("dataset").doc("the inversion's text: the dataset's R, or empty")},
      {"feature_steps", Schema::number().range(0, 1).def(0.8).doc("fraction of the steps injecting the resnet features (pnp_f_t)")},
      {"attention_steps", Schema::number().range(0, 1).def(0.5).doc("fraction of the steps injecting self-attention q, k (pnp_attn_t)")},
      {"feature_resnet", Schema::array(Schema::integer()).def(Json::array({1, 1})).doc("[b, l]: up_blocks[b].resnets[l] (SD 1.x: [1, 1])")},
      {"attention_from", Schema::array(Schema::integer())
                             .def(Json::array({1, 1}))
                             .doc("[b, l]: self-attention of up_blocks[b].attentions[l] and every later decoder block (SD 1.x: [1, 1])")},
      {"negative_prompt", Schema::string().def("ugly, blurry, black, low res, unrealistic").doc("the target's unconditional text")},
  };
  return with_inversion_fields(std::move(fields),
                               "the source row: reference: the DDIM reconstruction from z*_T under R (PIE-Bench's ddim+pnp); direct: "
                               "the inversion's trajectory itself (directinversion+pnp, PnP's own)",
                               {"reference", "direct"});
}

Options options_from(const Json& p) {
  Options o;
  o.branch = branch_options_from(p);
  o.feature_steps = p.value("feature_steps", o.feature_steps);
  o.attention_steps = p.value("attention_steps", o.attention_steps);
  o.feature_resnet = pair_from(p, "feature_resnet", o.feature_resnet);
  o.attention_from = pair_from(p, "attention_from", o.attention_from);
  o.negative_prompt = p.value("negative_prompt", o.negative_prompt);
  return o;
}

void Injection::on_projections(const models::AttentionSite& site, at::Tensor& q, at::Tensor& k, at::Tensor& /*v*/) {
  if (site.is_cross || site.place != models::UNetPlace::up || site.transformer != 0 || step_ >= attention_steps_ ||
      std::make_pair(site.block, site.layer) < attention_from_)
    return;
  q = from_source(q);
  k = from_source(k);
  ++attention_count_;
}

at::Tensor Injection::on_residual(const models::ResnetSite& site, at::Tensor h) {
  if (site.place != models::UNetPlace::up || std::make_pair(site.block, site.layer) != feature_resnet_ || step_ >= feature_steps_) return h;
  ++feature_count_;
  return from_source(h);
}

at::Tensor pnp_denoise(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                       const std::vector<at::Tensor>& source_latents, const at::Tensor& contexts,
                       const std::vector<std::int64_t>& timesteps, std::int64_t num_inference_steps, double guidance,
                       Injection* injection) {
  if (source_latents.size() != timesteps.size()) throw std::invalid_argument("pnp_denoise: expected one source latent per step");
  if (contexts.size(0) != 3) throw std::invalid_argument("pnp_denoise: expected [source, negative, target] contexts");
  std::optional<models::ScopedUNetHooks> hooks;
  if (injection) {
    if (!denoiser.unet()) throw InputError("pnp", "feature injection needs a UNet denoiser");
    hooks.emplace(denoiser.unet(), injection, injection);
  }
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(num_inference_steps);
  at::Tensor x = start;
  for (std::size_t k = 0; k < timesteps.size(); ++k) {
    const std::int64_t t = timesteps[k];
    if (injection) injection->begin_step(static_cast<std::int64_t>(k));
    const auto rows = denoiser.predict(at::cat({source_latents[k], x, x}), t, contexts).chunk(3);
    const at::Tensor eps = pipelines::classifier_free_guidance(rows[1], rows[2], guidance);
    x = ddim.step(eps, t, x).prev_sample;
    if (!at::isfinite(x).all().item<bool>())
      throw NumericError("pnp", "latents became non-finite at step " + std::to_string(k) + " (t=" + std::to_string(t) + ")");
  }
  return x;
}

BranchEdit pnp_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& o) {
  const BranchOptions& b = o.branch;
  if (b.inversion != InversionMethod::reference && b.inversion != InversionMethod::direct)
    throw ConfigError("inversion", "pnp's source row is the reference (DDIM reconstruction) or direct (inversion) trajectory");
  const std::vector<std::int64_t> denoise = diffusion::truncated_schedule(sd.scheduler, b.steps, b.strength).denoise;
  if (denoise.empty()) return unedited(x0, b);
  auto& denoiser = sd.denoiser;
  if (!denoiser.unet()) throw InputError("pnp", "feature injection needs a UNet denoiser");
  const auto resnets = denoiser.unet()->resnet_sites();
  if (std::none_of(resnets.begin(), resnets.end(), [&](const models::ResnetSite& s) {
        return s.place == models::UNetPlace::up && std::make_pair(s.block, s.layer) == o.feature_resnet;
      }))
    throw InputError("feature_resnet", "the UNet has no " + name_of("resnets", o.feature_resnet));
  const auto sites = denoiser.unet()->attention_sites();
  if (std::none_of(sites.begin(), sites.end(), [&](const models::AttentionSite& s) {
        return s.place == models::UNetPlace::up && std::make_pair(s.block, s.layer) == o.attention_from;
      }))
    throw InputError("attention_from", "the UNet has no " + name_of("attentions", o.attention_from));

  const at::Tensor e = sd.encode_prompts({reference, query, "", o.negative_prompt});
  const DiffEditTexts texts{.query = e.slice(0, 1, 2), .reference = e.slice(0, 0, 1), .empty = e.slice(0, 2, 3)};
  const std::int64_t start = denoiser.evaluations();
  const InversionOptions encode{.steps = b.steps, .with_reference = true, .guidance = 1.0};
  const Inversion inv = ddim_invert(denoiser, sd.scheduler, x0, texts, encode, b.strength);
  const std::int64_t inverted = denoiser.evaluations();
  std::vector<at::Tensor> source_latents;
  at::Tensor source_end;
  if (b.inversion == InversionMethod::direct) {
    for (const std::int64_t t : denoise) source_latents.push_back(inv.at_level(t));
    source_end = x0;
  } else {
    diffusion::DDIMScheduler ddim(sd.scheduler);
    ddim.set_timesteps(b.steps);
    at::Tensor y = inv.at_level(denoise.front());
    for (const std::int64_t t : denoise) {
      source_latents.push_back(y);
      y = ddim.step(denoiser.predict(y, t, texts.reference), t, y).prev_sample;
    }
    source_end = y;
  }
  const std::int64_t reconstructed = denoiser.evaluations();
  const auto k = static_cast<double>(denoise.size());
  Injection injection(static_cast<std::int64_t>(k * o.feature_steps), static_cast<std::int64_t>(k * o.attention_steps), o.feature_resnet,
                      o.attention_from);
  const at::Tensor contexts = at::cat({texts.empty, e.slice(0, 3, 4), texts.query});
  const at::Tensor out = pnp_denoise(denoiser, sd.scheduler, inv.at_level(denoise.front()), source_latents, contexts, denoise, b.steps,
                                     b.guidance, &injection);
  Json details = {{"inversion", config::enum_name(inversion_method_names(), b.inversion)},
                  {"evaluations",
                   {{"inversion", inverted - start},
                    {"reconstruction", reconstructed - inverted},
                    {"denoising", denoiser.evaluations() - reconstructed}}},
                  {"injections", {{"attention", injection.attention_injections()}, {"features", injection.feature_injections()}}}};
  return {.latents = out, .source = source_end, .details = std::move(details)};
}

}  // namespace diffedit::editing::pnp
