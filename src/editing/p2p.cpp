#include "editing/p2p.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "pipelines/pipeline.h"

namespace diffedit::editing::p2p {

using config::Json;
using config::Schema;

namespace {

// A window: f -> [0, f), [a, b] -> [a, b).
StepWindow window_from(const Json& j, const std::string& key) {
  if (j.is_number()) return {0.0, j.get<double>()};
  if (j.is_array() && j.size() == 2 && j[0].is_number() && j[1].is_number()) return {j[0].get<double>(), j[1].get<double>()};
  throw ConfigError(key, "expected a fraction of the steps f (the window [0, f)) or a pair [start, end], got " + j.dump());
}

Schema window_schema() { return Schema::one_of({Schema::number().range(0, 1), Schema::array(Schema::number().range(0, 1))}); }

}  // namespace

std::vector<Schema::Field> parameter_fields() {
  return {
      {"edit", Schema::string()
                   .choices({"auto", "replace", "refine", "reweight", "none"})
                   .def("auto")
                   .doc("replace: word swap; refine: added words; reweight: equalizer only; none: no control; "
                        "auto: replace for prompts of equal word counts, else refine")},
      {"reference_text", Schema::string().choices({"dataset", "none"}).def("dataset").doc("the source prompt: the dataset's R, or empty")},
      {"cross_replace_steps",
       Schema::one_of({window_schema(), Schema::map(window_schema())})
           .def(0.8)
           .doc("f, [start, end] or {\"default_\": f, word: f, ...}: steps (fractions) whose cross-attention is injected")},
      {"self_replace_steps", window_schema().def(0.4).doc("f or [start, end]: steps whose self-attention is injected")},
      {"equalizer_words", Schema::array(Schema::string()).def(Json::array()).doc("words of Q to re-weight")},
      {"equalizer_values", Schema::array(Schema::number()).def(Json::array()).doc("one weight per equalizer word")},
      {"local_blend_words",
       Schema::one_of({Schema::string().choices({"changed", "dataset"}), Schema::array(Schema::array(Schema::string()))})
           .nullable()
           .def(nullptr)
           .doc("LocalBlend: null (off), \"changed\" (the words R and Q differ in), \"dataset\" (the item's own words, "
                "PIE-Bench's blended_word; off for an item without) or [[R words], [Q words]]")},
      {"local_blend_threshold", Schema::number().range(0, 1).def(0.3)},
      {"inversion", Schema::string()
                        .choices(config::enum_choices(inversion_method_names()))
                        .def("reference")
                        .doc("reference: DDIM inversion under R (guidance 1); unconditional: by the unconditional model; "
                             "null_text, negative_prompt, direct: PIE-Bench's inversions (from the DDIM inversion under R)")},
      {"null_text_inner_steps", Schema::integer().range(0, 1000).def(10).doc("null_text: Adam steps per timestep at most")},
      {"null_text_early_stop_epsilon",
       Schema::number().range(0, std::nullopt).def(1e-5).doc("null_text: a timestep's steps stop once the loss < epsilon + i * 2e-5")},
  };
}

Options options_from(const Json& p) {
  Options o;
  o.steps = p.at("steps");
  o.guidance = p.at("guidance");
  o.strength = p.at("strength");
  o.inversion = config::enum_value(inversion_method_names(), p.value("inversion", std::string("reference")));
  o.null_text.inner_steps = p.value("null_text_inner_steps", o.null_text.inner_steps);
  o.null_text.early_stop_epsilon = p.value("null_text_early_stop_epsilon", o.null_text.early_stop_epsilon);
  const std::string edit = p.value("edit", std::string("auto"));
  o.edit = edit == "replace"    ? EditKind::replace
           : edit == "refine"   ? EditKind::refine
           : edit == "reweight" ? EditKind::reweight
           : edit == "none"     ? EditKind::none
                                : EditKind::automatic;
  const Json cross = p.value("cross_replace_steps", Json(0.8));
  if (cross.is_object()) {
    // As the reference: a dict without "default_" injects every word over all steps by default.
    o.cross_replace_steps.default_window =
        cross.contains("default_") ? window_from(cross["default_"], "cross_replace_steps.default_") : StepWindow{0.0, 1.0};
    for (const auto& [word, w] : cross.items())
      if (word != "default_") o.cross_replace_steps.words.push_back({word, window_from(w, "cross_replace_steps." + word)});
  } else {
    o.cross_replace_steps.default_window = window_from(cross, "cross_replace_steps");
  }
  o.self_replace_steps = window_from(p.value("self_replace_steps", Json(0.4)), "self_replace_steps");
  o.equalizer_words = p.value("equalizer_words", std::vector<std::string>{});
  o.equalizer_values = p.value("equalizer_values", std::vector<double>{});
  if (o.equalizer_words.size() != o.equalizer_values.size())
    throw ConfigError("equalizer_values", "needs one value per equalizer word (" + std::to_string(o.equalizer_words.size()) + " words, " +
                                              std::to_string(o.equalizer_values.size()) + " values)");
  if (o.edit == EditKind::reweight && o.equalizer_words.empty())
    throw ConfigError("equalizer_words", "edit reweight needs at least one word to re-weight");
  if (o.edit == EditKind::none && !o.equalizer_words.empty())
    throw ConfigError("equalizer_words", "edit none applies no control; re-weighting needs another edit");
  const Json blend = p.value("local_blend_words", Json());
  if (blend.is_string()) {
    o.blend = blend.get<std::string>() == "dataset" ? BlendWords::dataset : BlendWords::changed;
  } else if (blend.is_array()) {
    if (blend.size() != 2)
      throw ConfigError("local_blend_words", "expected [[words of R], [words of Q]], got " + std::to_string(blend.size()) + " lists");
    o.blend = BlendWords::given;
    o.blend_source_words = blend[0].get<std::vector<std::string>>();
    o.blend_target_words = blend[1].get<std::vector<std::string>>();
  }
  if (o.blend != BlendWords::off && o.edit == EditKind::none)
    throw ConfigError("local_blend_words", "edit none applies no control; LocalBlend needs another edit");
  o.blend_threshold = p.value("local_blend_threshold", 0.3);
  return o;
}

std::optional<ControllerSpec> controller_spec(const text::CLIPTokenizer& tokenizer, const std::string& source, const std::string& target,
                                              const Options& o, std::int64_t num_steps, std::int64_t latent_h, std::int64_t latent_w) {
  EditKind kind = o.edit;
  if (kind == EditKind::none) return std::nullopt;
  if (kind == EditKind::automatic)
    kind = !source.empty() && split_words(source).size() == split_words(target).size() ? EditKind::replace : EditKind::refine;
  const PromptTokens src = tokenize_prompt(tokenizer, source), tgt = tokenize_prompt(tokenizer, target);
  ControllerSpec spec;
  spec.cross_alpha = cross_replace_alpha(tgt, num_steps, o.cross_replace_steps);
  spec.self_window = self_replace_window(num_steps, o.self_replace_steps);
  spec.geometry = Geometry::for_latent(latent_h, latent_w);
  if (kind == EditKind::replace) {
    spec.edit = CrossEdit::replace;
    spec.mapper = replacement_mapper(src, tgt);
  } else if (kind == EditKind::refine) {
    spec.edit = CrossEdit::refine;
    const Refinement r = refinement_mapper(src, tgt);
    spec.refine_index = r.index;
    spec.refine_alphas = r.alphas;
  } else {
    spec.edit = CrossEdit::reweight;
  }
  if (!o.equalizer_words.empty()) spec.equalizer = equalizer(tgt, o.equalizer_words, o.equalizer_values);
  if (o.blend != BlendWords::off) {
    // given and dataset: the options' words (a dataset's are put there per request by the method).
    auto words =
        o.blend == BlendWords::changed ? changed_words(source, target) : std::make_pair(o.blend_source_words, o.blend_target_words);
    const at::Tensor alpha = blend_alpha(src, words.first, tgt, words.second);
    if (alpha.sum().item<double>() > 0) {
      spec.blend_alpha = alpha;
      spec.blend_threshold = o.blend_threshold;
    } else if (o.blend == BlendWords::given) {
      throw InputError("local_blend_words", "none of the words occurs in '" + source + "' or '" + target + "'");
    }  // changed: identical prompts, nothing to blend; dataset: an item without blend words
  }
  return spec;
}

at::Tensor p2p_denoise(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& start,
                       const at::Tensor& cond, const at::Tensor& uncond, const std::vector<std::int64_t>& timesteps,
                       std::int64_t num_inference_steps, double guidance, Controller* controller, Trace* trace,
                       const std::vector<at::Tensor>* source_targets) {
  if (cond.size(0) != 2) throw std::invalid_argument("p2p_denoise: expected [source; target] embeddings");
  const bool guided = guidance > 1.0 && uncond.defined();
  const bool per_step = guided && uncond.size(0) > 1;
  if (per_step && uncond.size(0) != static_cast<std::int64_t>(timesteps.size()))
    throw std::invalid_argument("p2p_denoise: expected one unconditional embedding, or one per step");
  if (source_targets && source_targets->size() != timesteps.size())
    throw std::invalid_argument("p2p_denoise: expected one source target per step");
  std::optional<models::ScopedAttentionHook> hook;
  if (controller) {
    if (!denoiser.unet()) throw InputError("p2p", "cross-attention control needs a UNet denoiser");
    hook.emplace(denoiser.unet(), controller);
    controller->set_guided(guided);
  }
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(num_inference_steps);
  auto context_with = [&](const at::Tensor& u) { return at::cat({u.expand({2, u.size(1), u.size(2)}), cond}); };
  const at::Tensor context = guided && !per_step ? context_with(uncond) : cond;
  at::Tensor x = at::cat({start, start});
  if (trace) trace->latents.push_back(x);
  for (std::size_t k = 0; k < timesteps.size(); ++k) {
    const std::int64_t t = timesteps[k];
    if (controller) controller->begin_step(static_cast<std::int64_t>(k));
    at::Tensor eps;
    if (guided) {
      const at::Tensor out =
          denoiser.predict(at::cat({x, x}), t, per_step ? context_with(uncond.narrow(0, static_cast<std::int64_t>(k), 1)) : context);
      if (trace && k == 0) trace->unet_out_first = out;
      const auto halves = out.chunk(2);
      eps = halves[0] + (halves[1] - halves[0]) * guidance;
    } else {
      eps = denoiser.predict(x, t, context);
      if (trace && k == 0) trace->unet_out_first = eps;
    }
    if (controller) controller->end_step();
    x = ddim.step(eps, t, x).prev_sample;
    if (source_targets) x = at::cat({(*source_targets)[k], x.narrow(0, 1, 1)});
    if (trace) {
      trace->noise_pred.push_back(eps);
      trace->pre_blend.push_back(x);
    }
    if (controller) {
      x = controller->step_callback(x);
      if (trace && controller->blend_mask().defined()) {
        trace->blend_soft.push_back(controller->blend_soft());
        trace->blend_mask.push_back(controller->blend_mask());
      }
    }
    if (trace) trace->latents.push_back(x);
    if (!at::isfinite(x).all().item<bool>())
      throw NumericError("p2p", "latents became non-finite at step " + std::to_string(k) + " (t=" + std::to_string(t) + ")");
  }
  return x;
}

EditOutput p2p_edit(pipelines::StableDiffusion& sd, const at::Tensor& x0, const std::string& reference, const std::string& query,
                    const Options& o) {
  diffusion::DDIMScheduler ddim(sd.scheduler);
  ddim.set_timesteps(o.steps);
  const auto schedule = diffusion::truncate_timesteps(ddim.timesteps(), o.strength);
  const std::string inversion_name = config::enum_name(inversion_method_names(), o.inversion);
  if (schedule.denoise.empty())  // r = 0: nothing to edit
    return {.latents = x0, .source = x0, .details = {{"inversion", inversion_name}, {"evaluations", Json::object()}}};
  const at::Tensor e = sd.encode_prompts({reference, query, ""});
  DiffEditTexts texts{.query = e.slice(0, 1, 2), .reference = e.slice(0, 0, 1), .empty = e.slice(0, 2, 3)};
  auto& denoiser = sd.denoiser;
  const std::int64_t start = denoiser.evaluations();
  // The conditional model alone, unguided (DDIM inversion as in null-text inversion).
  const InversionOptions encode{.steps = o.steps, .with_reference = o.inversion != InversionMethod::unconditional, .guidance = 1.0};
  const Inversion inv = ddim_invert(denoiser, sd.scheduler, x0, texts, encode, o.strength);
  const std::int64_t inverted = denoiser.evaluations();
  Json details = {{"inversion", inversion_name}};
  at::Tensor uncond = texts.empty;
  std::vector<at::Tensor> source_targets;
  if (o.inversion == InversionMethod::null_text) {
    const NullTextEmbeddings nt = null_text_optimization(denoiser, sd.scheduler, inv, schedule.denoise, o.steps, texts.reference,
                                                         texts.empty, o.guidance, o.null_text);
    uncond = nt.embeddings;
    details["null_text_adam_steps"] = nt.adam_steps;
  } else if (o.inversion == InversionMethod::negative_prompt) {
    uncond = texts.reference;
  } else if (o.inversion == InversionMethod::direct) {
    source_targets = direct_inversion_targets(inv, schedule.denoise);
  }
  const std::int64_t optimised = denoiser.evaluations();
  const auto num_steps = static_cast<std::int64_t>(schedule.denoise.size());
  const auto spec = controller_spec(sd.tokenizer, reference, query, o, num_steps, x0.size(2), x0.size(3));
  std::optional<Controller> controller;
  if (spec) controller.emplace(*spec);
  const at::Tensor out =
      p2p_denoise(denoiser, sd.scheduler, inv.at_level(schedule.denoise.front()), e.slice(0, 0, 2), uncond, schedule.denoise, o.steps,
                  o.guidance, controller ? &*controller : nullptr, nullptr, source_targets.empty() ? nullptr : &source_targets);
  details["evaluations"] = {
      {"inversion", inverted - start}, {"null_text", optimised - inverted}, {"denoising", denoiser.evaluations() - optimised}};
  EditOutput result{.latents = out.slice(0, 1, 2), .source = out.slice(0, 0, 1), .details = std::move(details)};
  if (controller && controller->blend_mask().defined()) result.mask = controller->blend_mask();
  return result;
}

}  // namespace diffedit::editing::p2p
