#include "editing/dual_branch.h"

#include <ATen/ATen.h>

#include <optional>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing {

using config::Json;

at::Tensor denoise_branches(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                            const at::Tensor& cond, const at::Tensor& uncond, const std::vector<std::int64_t>& timesteps,
                            std::int64_t num_inference_steps, double guidance, BranchControl* control, BranchTrace* trace,
                            const std::vector<at::Tensor>* source_targets) {
  if (cond.size(0) != 2) throw std::invalid_argument("denoise_branches: expected [source; target] embeddings");
  const bool guided = guidance > 1.0 && uncond.defined();
  const bool per_step = guided && uncond.size(0) > 1;
  if (per_step && uncond.size(0) != static_cast<std::int64_t>(timesteps.size()))
    throw std::invalid_argument("denoise_branches: expected one unconditional embedding, or one per step");
  if (source_targets && source_targets->size() != timesteps.size())
    throw std::invalid_argument("denoise_branches: expected one source target per step");
  std::optional<models::ScopedUNetHooks> hook;
  if (control) {
    if (!denoiser.unet()) throw InputError("dual-branch editing", "attention control needs a UNet denoiser");
    hook.emplace(denoiser.unet(), control);
    control->set_guided(guided);
  }
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(num_inference_steps);
  auto context_with = [&](const at::Tensor& u) { return at::cat({u.expand({2, u.size(1), u.size(2)}), cond}); };
  const at::Tensor context = guided && !per_step ? context_with(uncond) : cond;
  at::Tensor x = at::cat({start, start});
  if (trace) trace->latents.push_back(x);
  for (std::size_t k = 0; k < timesteps.size(); ++k) {
    const std::int64_t t = timesteps[k];
    if (control) control->begin_step(static_cast<std::int64_t>(k));
    at::Tensor eps;
    if (guided) {
      const at::Tensor out =
          denoiser.predict(at::cat({x, x}), t, per_step ? context_with(uncond.narrow(0, static_cast<std::int64_t>(k), 1)) : context);
      if (trace && k == 0) trace->unet_out_first = out;
      const auto halves = out.chunk(2);
      eps = pipelines::classifier_free_guidance(halves[0], halves[1], guidance);
    } else {
      eps = denoiser.predict(x, t, context);
      if (trace && k == 0) trace->unet_out_first = eps;
    }
    if (control) control->end_step();
    x = ddim.step(eps, t, x).prev_sample;
    if (source_targets) x = at::cat({(*source_targets)[k], x.narrow(0, 1, 1)});
    if (trace) {
      trace->noise_pred.push_back(eps);
      trace->pre_blend.push_back(x);
    }
    if (control) {
      x = control->step_callback(x);
      if (trace && control->edit_mask().defined()) {
        trace->blend_soft.push_back(control->edit_map());
        trace->blend_mask.push_back(control->edit_mask());
      }
    }
    if (trace) trace->latents.push_back(x);
    if (!at::isfinite(x).all().item<bool>())
      throw NumericError("dual-branch editing",
                         "latents became non-finite at step " + std::to_string(k) + " (t=" + std::to_string(t) + ")");
  }
  return x;
}

BranchOptions branch_options_from(const Json& p) {
  BranchOptions o;
  o.steps = p.at("steps");
  o.guidance = p.at("guidance");
  o.strength = p.at("strength");
  o.inversion = config::enum_value(inversion_method_names(), p.value("inversion", std::string("reference")));
  o.null_text.inner_steps = p.value("null_text_inner_steps", o.null_text.inner_steps);
  o.null_text.early_stop_epsilon = p.value("null_text_early_stop_epsilon", o.null_text.early_stop_epsilon);
  return o;
}

std::vector<config::Schema::Field> with_inversion_fields(std::vector<config::Schema::Field> fields, const std::string& doc,
                                                         const std::vector<std::string>& choices) {
  using config::Schema;
  fields.push_back(
      {"inversion",
       Schema::string().choices(choices.empty() ? config::enum_choices(inversion_method_names()) : choices).def("reference").doc(doc)});
  if (!choices.empty()) return fields;  // the null-text inversion is not among them
  fields.push_back({"null_text_inner_steps", Schema::integer().range(0, 1000).def(10).doc("null_text: Adam steps per timestep at most")});
  fields.push_back(
      {"null_text_early_stop_epsilon",
       Schema::number().range(0, std::nullopt).def(1e-5).doc("null_text: a timestep's steps stop once the loss < epsilon + i * 2e-5")});
  return fields;
}

BranchEdit unedited(const at::Tensor& x0, const BranchOptions& o) {
  return {.latents = x0,
          .source = x0,
          .details = {{"inversion", config::enum_name(inversion_method_names(), o.inversion)}, {"evaluations", Json::object()}}};
}

BranchEdit dual_branch_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& source, const std::string& target,
                            const BranchOptions& o, const ControlFactory& make_control) {
  const std::vector<std::int64_t> denoise = diffusion::truncated_schedule(sd.scheduler, o.steps, o.strength).denoise;
  if (denoise.empty()) return unedited(x0, o);
  const at::Tensor e = sd.encode_prompts({source, target, ""});
  DiffEditTexts texts{.query = e.slice(0, 1, 2), .reference = e.slice(0, 0, 1), .empty = e.slice(0, 2, 3)};
  auto& denoiser = sd.denoiser;
  const std::int64_t start = denoiser.evaluations();
  // The conditional model alone, unguided (DDIM inversion as in null-text inversion).
  const InversionOptions encode{.steps = o.steps, .with_reference = o.inversion != InversionMethod::unconditional, .guidance = 1.0};
  const Inversion inv = ddim_invert(denoiser, sd.scheduler, x0, texts, encode, o.strength);
  const std::int64_t inverted = denoiser.evaluations();
  Json details = {{"inversion", config::enum_name(inversion_method_names(), o.inversion)}};
  at::Tensor uncond = texts.empty;
  std::vector<at::Tensor> source_targets;
  if (o.inversion == InversionMethod::null_text) {
    const NullTextEmbeddings nt =
        null_text_optimization(denoiser, sd.scheduler, inv, denoise, o.steps, texts.reference, texts.empty, o.guidance, o.null_text);
    uncond = nt.embeddings;
    details["null_text_adam_steps"] = nt.adam_steps;
  } else if (o.inversion == InversionMethod::negative_prompt) {
    uncond = texts.reference;
  } else if (o.inversion == InversionMethod::direct) {
    source_targets = direct_inversion_targets(inv, denoise);
  }
  const std::int64_t optimised = denoiser.evaluations();
  const auto num_steps = static_cast<std::int64_t>(denoise.size());
  const std::unique_ptr<BranchControl> control = make_control ? make_control(num_steps, x0.size(2), x0.size(3)) : nullptr;
  const at::Tensor out = denoise_branches(denoiser, sd.scheduler, inv.at_level(denoise.front()), e.slice(0, 0, 2), uncond, denoise, o.steps,
                                          o.guidance, control.get(), nullptr, source_targets.empty() ? nullptr : &source_targets);
  details["evaluations"] = {
      {"inversion", inverted - start}, {"null_text", optimised - inverted}, {"denoising", denoiser.evaluations() - optimised}};
  BranchEdit result{.latents = out.slice(0, 1, 2), .source = out.slice(0, 0, 1), .details = std::move(details)};
  if (control && control->edit_mask().defined()) result.mask = control->edit_mask();
  return result;
}

}  // namespace diffedit::editing
