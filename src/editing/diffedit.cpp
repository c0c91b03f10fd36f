#include "editing/diffedit.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "diffusion/schedulers.h"

namespace diffedit::editing {

using config::Json;

namespace {

const at::Tensor& or_empty(const at::Tensor& t, const DiffEditTexts& texts) { return t.defined() ? t : texts.empty; }

// [1, L, D] -> [n, L, D]
at::Tensor repeat(const at::Tensor& embeds, std::int64_t n) { return embeds.repeat({n, 1, 1}); }

}  // namespace

DiffEditOptions DiffEditOptions::preset(DiffEditMode mode) {
  DiffEditOptions o;
  // The paper: "remove extreme values" and "rescaled to the range [0, 1]" (§3.2): outliers clipped
  // at the 0.99 quantile, then min-max, so thresholds 0.25 / 0.5 / 0.75 are fractions of the
  // map's range. diffusers divides by a clamp at 3x the mean instead: fractions of that clamp.
  o.normalization = MaskNormalization::quantile_minmax;
  if (mode == DiffEditMode::diffusers_compat) {
    o.normalization = MaskNormalization::clamp_mean_ratio;
    o.mask_guidance = 7.5;
    o.mask_guidance_order = GuidanceOrder::swapped;
    o.encode_with_reference = true;
    o.sample_posterior = true;
    o.paste = PasteLevel::step_input;
  }
  return o;
}

MaskOptions DiffEditOptions::mask_stage() const {
  return {.steps = steps,
          .samples = mask_samples,
          .strength = mask_strength,
          .guidance = mask_guidance,
          .guidance_order = mask_guidance_order,
          .normalization = normalization,
          .clamp_ratio = clamp_ratio,
          .quantile = quantile,
          .sample_posterior = sample_posterior};
}

InversionOptions DiffEditOptions::inversion_stage() const {
  return {.steps = steps,
          .with_reference = encode_with_reference,
          .guidance = encode_with_reference ? guidance : 1.0,
          .sample_posterior = sample_posterior};
}

DecodeOptions DiffEditOptions::decode_stage() const {
  return {.steps = steps, .strength = strength, .guidance = guidance, .paste = paste, .mask_operator = mask_operator};
}

const config::EnumNames<DiffEditMode>& mode_names() {
  static const config::EnumNames<DiffEditMode> names = {{DiffEditMode::paper, "paper"},
                                                        {DiffEditMode::diffusers_compat, "diffusers_compat"}};
  return names;
}
const config::EnumNames<MaskNormalization>& normalization_names() {
  static const config::EnumNames<MaskNormalization> names = {{MaskNormalization::clamp_mean_ratio, "clamp_mean_ratio"},
                                                             {MaskNormalization::quantile_minmax, "quantile_minmax"}};
  return names;
}
const config::EnumNames<GuidanceOrder>& guidance_order_names() {
  static const config::EnumNames<GuidanceOrder> names = {{GuidanceOrder::standard, "standard"}, {GuidanceOrder::swapped, "swapped"}};
  return names;
}
const config::EnumNames<PasteLevel>& paste_names() {
  static const config::EnumNames<PasteLevel> names = {{PasteLevel::step_output, "step_output"}, {PasteLevel::step_input, "step_input"}};
  return names;
}
const config::EnumNames<DecodeNegative>& decode_negative_names() {
  static const config::EnumNames<DecodeNegative> names = {
      {DecodeNegative::empty, "empty"}, {DecodeNegative::reference, "reference"}, {DecodeNegative::null_text, "null_text"}};
  return names;
}
const config::EnumNames<MaskOperator>& mask_operator_names() {
  static const config::EnumNames<MaskOperator> names = {{MaskOperator::latent, "latent"}, {MaskOperator::glide, "glide"}};
  return names;
}

DiffEditOptions diffedit_options(const config::Json& p) {
  auto o = DiffEditOptions::preset(config::enum_value(mode_names(), p["mode"].get<std::string>()));
  o.strength = p["strength"];
  o.steps = p["steps"];
  o.guidance = p["guidance"];
  if (p.contains("threshold")) o.threshold = p["threshold"];
  if (p.contains("mask_samples")) o.mask_samples = p["mask_samples"];
  if (p.contains("mask_strength")) o.mask_strength = p["mask_strength"];
  if (p.contains("clamp_ratio")) o.clamp_ratio = p["clamp_ratio"];
  if (p.contains("quantile")) o.quantile = p["quantile"];
  // Unset (null) enums and flags keep the mode's value.
  const auto set = [&p](const char* key, auto& member, const auto& names) {
    if (p.value(key, config::Json()).is_string()) member = config::enum_value(names, p[key].get<std::string>());
  };
  set("normalization", o.normalization, normalization_names());
  set("mask_guidance_order", o.mask_guidance_order, guidance_order_names());
  set("paste", o.paste, paste_names());
  set("mask_operator", o.mask_operator, mask_operator_names());
  set("decode_negative", o.decode_negative, decode_negative_names());
  if (p.contains("null_text_inner_steps")) o.null_text_inner_steps = p["null_text_inner_steps"];
  if (p.contains("null_text_early_stop_epsilon")) o.null_text_early_stop_epsilon = p["null_text_early_stop_epsilon"];
  if (p.value("mask_guidance", config::Json()).is_number())
    o.mask_guidance = p["mask_guidance"];
  else if (o.mask_guidance > 1.0)
    o.mask_guidance = o.guidance;  // diffusers guides the contrast with the same scale
  if (p.value("encode_with_reference", config::Json()).is_boolean()) o.encode_with_reference = p["encode_with_reference"];
  if (p.value("sample_posterior", config::Json()).is_boolean()) o.sample_posterior = p["sample_posterior"];
  return o;
}

bool uses_reference_text(const config::Json& parameters) { return parameters.value("reference_text", std::string("dataset")) != "none"; }

std::string reference_for(const config::Json& parameters, const std::string& reference) {
  return uses_reference_text(parameters) ? reference : std::string();
}

DiffEditTexts encode_texts(pipelines::StableDiffusion& sd, const std::string& query, const std::string& reference) {
  const at::Tensor e = sd.encode_prompts({query, reference, ""});
  return {.query = e.slice(0, 0, 1), .reference = e.slice(0, 1, 2), .empty = e.slice(0, 2, 3)};
}

at::Tensor image_latents(pipelines::StableDiffusion& sd, const at::Tensor& image, bool sample, NoiseSource& noise) {
  const auto posterior = sd.encode(image);
  return sample ? sd.to_latents(posterior, noise.randn(posterior.mean.sizes())) : sd.to_latents(posterior);
}

at::Tensor MaskEstimate::binarize(double threshold) const { return (map > threshold).to(at::kFloat).unsqueeze(1); }

const at::Tensor& Inversion::at_level(std::int64_t level) const {
  for (std::size_t i = 0; i < timesteps.size(); ++i)
    if (timesteps[i] == level) return latents[i];
  if (timesteps.empty() || level < timesteps.front()) return x0;
  throw std::logic_error("no inverted latent at level " + std::to_string(level));
}

MaskEstimate estimate_mask(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& x0,
                           const DiffEditTexts& texts, const MaskOptions& o, NoiseSource& noise) {
  const std::int64_t n = o.samples;
  if (n < 1) throw InputError("mask_samples", "must be at least 1");
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(o.steps);
  const auto truncated = diffusion::truncate_timesteps(ddim.timesteps(), o.strength);
  if (truncated.denoise.empty()) throw InputError("mask_strength", "is too small for " + std::to_string(o.steps) + " steps");
  const std::int64_t t = truncated.denoise.front();

  const at::Tensor base = x0.size(0) == n ? x0 : x0.expand({n, x0.size(1), x0.size(2), x0.size(3)}).contiguous();
  const at::Tensor xt = ddim.add_noise(base, noise.randn(base.sizes()).to(base.device()), {t});

  at::Tensor eps_r, eps_q;
  if (o.guidance > 1.0) {
    // One call on [R+ x n, R- x n, Q+ x n, Q- x n], as diffusers batches it.
    const at::Tensor ctx = at::cat({repeat(texts.reference, n), repeat(or_empty(texts.mask_reference_negative, texts), n),
                                    repeat(texts.query, n), repeat(or_empty(texts.mask_query_negative, texts), n)});
    const auto e = denoiser.predict(at::cat({xt, xt, xt, xt}), t, ctx).chunk(4);
    if (o.guidance_order == GuidanceOrder::swapped) {
      eps_r = e[0] + (e[1] - e[0]) * o.guidance;
      eps_q = e[2] + (e[3] - e[2]) * o.guidance;
    } else {
      eps_r = e[1] + (e[0] - e[1]) * o.guidance;
      eps_q = e[3] + (e[2] - e[3]) * o.guidance;
    }
  } else {
    const auto e = denoiser.predict(at::cat({xt, xt}), t, at::cat({repeat(texts.reference, n), repeat(texts.query, n)})).chunk(2);
    eps_r = e[0];
    eps_q = e[1];
  }

  MaskEstimate m;
  // mean over draws and latent channels -> [1, h, w]
  m.difference = (eps_q - eps_r).abs().reshape({1, n, xt.size(1), xt.size(2), xt.size(3)}).mean(at::IntArrayRef{1, 2});
  if (o.normalization == MaskNormalization::clamp_mean_ratio) {
    const at::Tensor clamp = m.difference.mean() * o.clamp_ratio;
    m.clamp = clamp.item<double>();
    m.map = m.difference.clamp_min(0).clamp_max(clamp) / clamp;
  } else {
    const at::Tensor q = at::quantile(m.difference.flatten(), o.quantile);
    m.clamp = q.item<double>();
    const at::Tensor clipped = m.difference.clamp_max(q);
    const at::Tensor lo = clipped.min(), hi = clipped.max();
    m.map = (clipped - lo) / (hi - lo).clamp_min(1e-12);
  }
  return m;
}

Inversion ddim_invert(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const at::Tensor& x0,
                      const DiffEditTexts& texts, const InversionOptions& o, double strength) {
  diffusion::DDIMInverseScheduler inverse(scheduler);
  inverse.set_timesteps(o.steps);
  Inversion inv;
  inv.x0 = x0;
  inv.timesteps = diffusion::truncated_schedule(scheduler, o.steps, strength).invert;
  at::Tensor x = x0;
  for (const std::int64_t t : inv.timesteps) {
    const at::Tensor eps = o.with_reference ? denoiser.guided(x, t, texts.reference, or_empty(texts.encode_negative, texts), o.guidance)
                                            : denoiser.predict(x, t, texts.empty);  // the unconditional model, no guidance
    x = inverse.step(eps, t, x).prev_sample;
    inv.latents.push_back(x);
  }
  return inv;
}

namespace {

// The decodings of `jobs` (equal steps and guidance) in lockstep: the truncated schedule of ratio
// r is the last int(steps * r) timesteps of the full one, so at each timestep the jobs that have
// started are denoised in one guided call ([k latents] under their k queries).
DecodedBatch decode_lockstep(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const std::vector<DecodeJob>& jobs,
                             const DiffEditTexts& texts, std::vector<at::Tensor>* trajectory) {
  if (jobs.empty()) return {};
  const DecodeOptions& first = jobs.front().options;
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(first.steps);
  const std::vector<std::int64_t>& full = ddim.timesteps();
  const std::size_t n = jobs.size();
  std::vector<std::vector<std::int64_t>> ts(n);
  std::vector<std::size_t> start(n);
  std::vector<at::Tensor> latents(n);
  std::vector<std::int64_t> evaluations(n, 0);
  for (std::size_t j = 0; j < n; ++j) {
    const DecodeJob& job = jobs[j];
    if (job.options.steps != first.steps || job.options.guidance != first.guidance)
      throw std::logic_error("decode_lockstep: jobs differ in steps or guidance");
    ts[j] = diffusion::truncate_timesteps(full, job.options.strength).denoise;
    if (ts[j].empty()) {
      latents[j] = job.inversion->x0;  // r = 0: nothing to edit
      continue;
    }
    if (ts[j].size() > job.inversion->latents.size())
      throw InputError("strength", "is larger than the inversion's (" + std::to_string(ts[j].size()) + " steps needed, " +
                                       std::to_string(job.inversion->latents.size()) + " inverted)");
    if (job.negatives.defined() && job.negatives.size(0) != static_cast<std::int64_t>(ts[j].size()))
      throw std::logic_error("decode_lockstep: " + std::to_string(job.negatives.size(0)) + " negative embeddings for " +
                             std::to_string(ts[j].size()) + " steps");
    start[j] = full.size() - ts[j].size();
    if (!std::equal(ts[j].begin(), ts[j].end(), full.begin() + static_cast<std::ptrdiff_t>(start[j])))
      throw std::logic_error("decode_lockstep: a truncated schedule is not a suffix of the full one");
    latents[j] = job.inversion->at_level(ts[j].front());
  }
  auto texts_of = [&](std::size_t j) -> const DiffEditTexts& { return jobs[j].texts ? *jobs[j].texts : texts; };
  // The job's negative at its own step i: its per-step embedding, or its texts' one.
  auto negative_of = [&](std::size_t j, std::size_t i) -> at::Tensor {
    if (jobs[j].negatives.defined()) return jobs[j].negatives.narrow(0, static_cast<std::int64_t>(i), 1);
    return or_empty(texts_of(j).decode_negative, texts_of(j));
  };
  for (std::size_t step = 0; step < full.size(); ++step) {
    const std::int64_t t = full[step];
    std::vector<std::size_t> active;
    for (std::size_t j = 0; j < n; ++j)
      if (!ts[j].empty() && start[j] <= step) active.push_back(j);
    if (active.empty()) continue;
    const std::int64_t before = denoiser.evaluations();
    at::Tensor eps;
    if (active.size() == 1) {
      eps = denoiser.guided(latents[active[0]], t, texts_of(active[0]).query, negative_of(active[0], step - start[active[0]]),
                            first.guidance);
    } else {
      std::vector<at::Tensor> batch, query, negative;
      for (const std::size_t j : active) {
        batch.push_back(latents[j]);
        query.push_back(texts_of(j).query);
        negative.push_back(negative_of(j, step - start[j]));
      }
      eps = denoiser.guided(at::cat(batch), t, at::cat(query), at::cat(negative), first.guidance);
    }
    // Every job in the call took the same part of it.
    const std::int64_t part = (denoiser.evaluations() - before) / static_cast<std::int64_t>(active.size());
    for (const std::size_t j : active) evaluations[j] += part;
    for (std::size_t a = 0; a < active.size(); ++a) {
      const std::size_t j = active[a];
      const DecodeJob& job = jobs[j];
      const Inversion& inversion = *job.inversion;
      const DecodeOptions& o = job.options;
      const std::size_t i = step - start[j];  // the job's own step index
      const auto out = ddim.step(active.size() == 1 ? eps : eps.narrow(0, static_cast<std::int64_t>(a), 1), t, latents[j]);
      at::Tensor x = out.prev_sample;
      if (job.mask.defined() && o.mask_operator == MaskOperator::glide) {
        // x_{t-1} = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps: taking it from x0_hat' = M x0_hat +
        // (1 - M) x0 moves it by sqrt(a_prev) (1 - M) (x0 - x0_hat).
        const std::int64_t prev_t = t - scheduler.num_train_timesteps / o.steps;
        const double a_prev = prev_t >= 0 ? ddim.schedule().alpha_bar(prev_t) : ddim.final_alpha_cumprod();
        x = x + (inversion.x0 - out.pred_original_sample) * (1 - job.mask) * std::sqrt(a_prev);
      } else if (job.mask.defined()) {
        // The step's output level is the next timestep of the schedule (the clean latent after the last).
        const at::Tensor& encoded = o.paste == PasteLevel::step_input ? inversion.at_level(t)
                                    : i + 1 < ts[j].size()            ? inversion.at_level(ts[j][i + 1])
                                                                      : inversion.x0;
        x = x * job.mask + encoded * (1 - job.mask);
      }
      if (trajectory) trajectory->push_back(x);
      if (!at::isfinite(x).all().item<bool>())
        throw NumericError("diffedit",
                           "latents became non-finite at decoding step " + std::to_string(i) + " (t=" + std::to_string(t) + ")");
      latents[j] = x;
    }
  }
  return {latents, evaluations};
}

}  // namespace

at::Tensor masked_decode(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler, const Inversion& inversion,
                         const at::Tensor& mask, const DiffEditTexts& texts, const DecodeOptions& o, std::vector<at::Tensor>* trajectory) {
  return decode_lockstep(denoiser, scheduler, {DecodeJob{&inversion, mask, o}}, texts, trajectory).latents.front();
}

DecodedBatch masked_decode_batch(pipelines::Denoiser& denoiser, const diffusion::SchedulerConfig& scheduler,
                                 const std::vector<DecodeJob>& jobs, const DiffEditTexts& texts) {
  return decode_lockstep(denoiser, scheduler, jobs, texts, nullptr);
}

}  // namespace diffedit::editing
