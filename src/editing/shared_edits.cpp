#include "editing/shared_edits.h"

#include <ATen/ATen.h>

#include <chrono>
#include <map>
#include <memory>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/flexit.h"
#include "editing/noise.h"

namespace diffedit::editing {

namespace {

using config::Json;

bool in_family(const std::string& method) { return method == "diffedit" || method == "encode_decode"; }

// What the mask map depends on.
std::string mask_key(const Json& p) {
  return Json{{"mode", p["mode"]},           {"steps", p["steps"]},           {"mask_samples", p["mask_samples"]},
              {"mask_strength", p["mask_strength"]}, {"mask_guidance", p["mask_guidance"]},
              {"mask_guidance_order", p["mask_guidance_order"]}, {"normalization", p["normalization"]},
              {"clamp_ratio", p["clamp_ratio"]}, {"quantile", p["quantile"]},  {"sample_posterior", p["sample_posterior"]},
              {"guidance", diffedit_options(p).mask_guidance > 1.0 ? p["guidance"] : Json()},
              {"reference_text", p.value("reference_text", "dataset")}}
      .dump();
}

// What the inversion depends on (besides r); `after` separates posterior samples drawn at
// different points of the noise stream.
std::string inversion_key(const Json& p, const std::string& after) {
  const DiffEditOptions o = diffedit_options(p);
  Json k = {{"mode", p["mode"]}, {"steps", p["steps"]}, {"encode_with_reference", o.encode_with_reference},
            {"sample_posterior", o.sample_posterior}, {"guidance", o.encode_with_reference ? p["guidance"] : Json()},
            {"reference_text", o.encode_with_reference ? Json(p.value("reference_text", "dataset")) : Json()}};
  if (o.sample_posterior) k["after"] = after;
  return k.dump();
}

struct MaskEntry {
  MaskEstimate estimate;
  std::unique_ptr<SeededNoise> noise;  // the stream after the mask's draws
  at::Tensor x0;                        // the encoded latent drawn after them (sampled posterior), lazily
  std::int64_t evaluations = 0;
};

struct InversionEntry {
  Inversion inversion;
  std::int64_t evaluations = 0, steps = 0;
};

}  // namespace

void edit_shared(pipelines::StableDiffusion& sd, const EditRequest& request, const std::vector<Setting>& settings,
                 const std::function<void(std::size_t, EditResult&&)>& on_result) {
  std::vector<std::unique_ptr<EditMethod>> methods;
  for (const auto& s : settings) methods.push_back(make_method(s.method, s.parameters, s.method));

  // Standalone methods first; then FlexIT, one optimisation run per group of settings that differ
  // only in their iteration count; then the DiffEdit family, grouped so caches are built once.
  std::vector<std::size_t> family;
  std::map<std::string, std::vector<std::size_t>> flexit_runs;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (in_family(settings[i].method)) {
      family.push_back(i);
      continue;
    }
    if (settings[i].method == "flexit") {
      Json p = methods[i]->parameters();
      p.erase("iterations");
      flexit_runs["flexit " + p.dump()].push_back(i);
      continue;
    }
    SeededNoise noise(request.seed);
    on_result(i, methods[i]->edit(sd, request, noise));
  }
  for (const auto& [key, members] : flexit_runs) {
    const Json& p = methods[members.front()]->parameters();
    std::vector<std::int64_t> save_points;
    for (const std::size_t i : members) save_points.push_back(methods[i]->parameters()["iterations"]);
    SeededNoise noise(request.seed);  // the same stream a standalone run draws: its augmentations
    run_flexit(sd, request, flexit_options(p), save_points, noise, [&](std::size_t j, EditResult&& result) {
      if (members.size() > 1) result.shared.push_back({key, 0});
      on_result(members[j], std::move(result));
    });
  }
  if (family.empty()) return;

  torch::NoGradGuard no_grad;
  std::map<std::string, DiffEditTexts> texts_by_reference;  // R as each setting's reference_text picks it
  auto texts_for = [&](const Json& p) -> const DiffEditTexts& {
    const std::string r = reference_for(p, request.reference);
    auto it = texts_by_reference.find(r);
    if (it == texts_by_reference.end()) it = texts_by_reference.emplace(r, encode_texts(sd, request.query, r)).first;
    return it->second;
  };
  std::map<std::string, MaskEntry> masks;
  std::map<std::string, InversionEntry> inversions;
  std::map<std::string, double> largest_strength;
  std::vector<std::string> mask_keys(settings.size()), inversion_keys(settings.size());
  for (const std::size_t i : family) {
    const Json& p = methods[i]->parameters();
    if (settings[i].method == "diffedit") mask_keys[i] = mask_key(p);
    inversion_keys[i] = inversion_key(p, settings[i].method == "diffedit" ? mask_keys[i] : "fresh");
    double& r = largest_strength[inversion_keys[i]];
    r = std::max(r, p["strength"].get<double>());
  }

  for (const std::size_t i : family) {
    const auto start = std::chrono::steady_clock::now();
    const Json& p = methods[i]->parameters();
    DiffEditOptions o = diffedit_options(p);
    const DiffEditTexts& texts = texts_for(p);
    EditResult r;

    MaskEntry* mask = nullptr;
    if (!mask_keys[i].empty()) {
      auto [it, fresh] = masks.try_emplace(mask_keys[i]);
      mask = &it->second;
      if (fresh) {
        const std::int64_t b = sd.denoiser.evaluations();
        mask->noise = std::make_unique<SeededNoise>(request.seed);
        const at::Tensor x_mask = image_latents(sd, request.image, o.sample_posterior, *mask->noise);
        mask->estimate = estimate_mask(sd.denoiser, sd.scheduler, x_mask, texts, o, *mask->noise);
        mask->evaluations = sd.denoiser.evaluations() - b;
      }
      r.mask = mask->estimate.binarize(o.threshold);
      r.mask_map = mask->estimate.map.unsqueeze(1);
      r.shared.push_back({"mask " + mask_keys[i], mask->evaluations});
    }

    auto [it, fresh] = inversions.try_emplace(inversion_keys[i]);
    InversionEntry& inv = it->second;
    if (fresh) {
      at::Tensor x0;
      if (o.sample_posterior && mask) {
        if (!mask->x0.defined()) mask->x0 = image_latents(sd, request.image, true, *mask->noise);
        x0 = mask->x0;
      } else {
        SeededNoise noise(request.seed);
        x0 = image_latents(sd, request.image, o.sample_posterior, noise);
      }
      DiffEditOptions deepest = o;
      deepest.strength = largest_strength[inversion_keys[i]];
      const std::int64_t b = sd.denoiser.evaluations();
      inv.inversion = ddim_invert(sd.denoiser, sd.scheduler, x0, texts, deepest);
      inv.evaluations = sd.denoiser.evaluations() - b;
      inv.steps = static_cast<std::int64_t>(inv.inversion.latents.size());
    }
    // Evaluations per inversion step are constant (1 unguided, 2 guided): the cost to this r.
    const std::int64_t needed = diffusion::truncated_steps(o.steps, o.strength);
    r.shared.push_back({"inversion " + inversion_keys[i], inv.steps ? inv.evaluations / inv.steps * needed : 0});

    const std::int64_t decode_before = sd.denoiser.evaluations();
    r.image = sd.decode(masked_decode(sd.denoiser, sd.scheduler, inv.inversion, settings[i].method == "diffedit" ? r.mask : at::Tensor(),
                                      texts, o));
    if (settings[i].method != "diffedit") r.mask_map = at::Tensor();
    r.denoiser_evaluations = sd.denoiser.evaluations() - decode_before;
    for (const auto& s : r.shared) r.denoiser_evaluations += s.evaluations;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    on_result(i, std::move(r));
  }
}

// The counts follow the loops of each method: a guided evaluation costs 2, DDIM over ratio r takes
// int(steps * r) steps (encoding and decoding alike), the mask n draws of R and Q (4 with mask
// guidance). Checked against real runs of every method (test).
std::map<std::string, StageEvaluations> estimate_evaluations(const std::vector<Setting>& settings) {
  std::vector<EditResult> results;
  for (const auto& setting : settings) {
    const auto method = make_method(setting.method, setting.parameters, setting.method);
    const Json& p = method->parameters();
    EditResult r;
    const std::string& m = setting.method;
    if (m == "flexit" || m == "copy" || m == "retrieve") {  // no denoiser (FlexIT optimises through the VAE and CLIP)
      results.push_back(std::move(r));
      continue;
    }
    const std::int64_t k = diffusion::truncated_steps(p["steps"].get<std::int64_t>(), p["strength"].get<double>());
    const std::int64_t guided = p["guidance"].get<double>() > 1.0 ? 2 : 1;
    if (m == "sdedit" || m == "ilvr") {
      r.denoiser_evaluations = k * guided;
    } else if (m == "p2p") {
      // Encoding under R (guidance 1), then R and Q denoised together.
      r.denoiser_evaluations = k + 2 * k * guided;
    } else {  // the DiffEdit family and its ablations
      const DiffEditOptions o = diffedit_options(p);
      const std::int64_t mask = m == "diffedit" || m == "mask_no_encoding" ? o.mask_samples * (o.mask_guidance > 1.0 ? 4 : 2) : 0;
      const std::int64_t inversion = m == "mask_no_encoding" ? 0 : k * (o.encode_with_reference && o.guidance > 1.0 ? 2 : 1);
      r.denoiser_evaluations = mask + inversion + k * guided;
      if (in_family(m)) {
        const std::string mk = m == "diffedit" ? mask_key(p) : "";
        if (!mk.empty()) r.shared.push_back({"mask " + mk, mask});
        r.shared.push_back({"inversion " + inversion_key(p, mk.empty() ? "fresh" : mk), inversion});
      }
    }
    results.push_back(std::move(r));
  }
  std::vector<const EditResult*> pointers;
  for (const auto& r : results) pointers.push_back(&r);
  return evaluations_by_stage(pointers);
}

std::map<std::string, StageEvaluations> evaluations_by_stage(const std::vector<const EditResult*>& results) {
  std::map<std::string, StageEvaluations> stages;
  std::map<std::string, std::int64_t> shared;  // per key: the largest count (the deepest inversion)
  auto kind = [](const std::string& key) { return key.substr(0, key.find(' ')); };
  for (const EditResult* r : results) {
    std::int64_t own = r->denoiser_evaluations;
    for (const auto& st : r->shared) {
      own -= st.evaluations;
      stages[kind(st.key)].if_independent += st.evaluations;
      shared[st.key] = std::max(shared[st.key], st.evaluations);
    }
    stages["per_setting"].done += own;
    stages["per_setting"].if_independent += own;
  }
  for (const auto& [key, v] : shared) stages[kind(key)].done += v;
  return stages;
}

}  // namespace diffedit::editing
