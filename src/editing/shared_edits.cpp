#include "editing/shared_edits.h"

#include <ATen/ATen.h>

#include <deque>
#include <map>
#include <memory>

#include "core/errors.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/diffedit_stages.h"
#include "editing/flexit.h"
#include "editing/noise.h"

namespace diffedit::editing {

using config::Json;

namespace {

// One input's settings outside the DiffEdit family, run now; its family's settings are returned
// (their indices into `settings`, validated).
std::vector<std::pair<std::size_t, FamilySetting>> run_outside_family(pipelines::StableDiffusion& sd, const EditRequest& request,
                                                                      const std::vector<Setting>& settings,
                                                                      const std::function<void(std::size_t, EditResult&&)>& on_result) {
  std::vector<std::unique_ptr<EditMethod>> methods;
  for (const auto& s : settings) methods.push_back(make_method(s.method, s.parameters, s.method));

  // Standalone methods first; then FlexIT, one optimisation run per group of settings that differ
  // only in their iteration count. The DiffEdit family is left to the caller.
  std::vector<std::pair<std::size_t, FamilySetting>> family;
  std::map<std::string, std::vector<std::size_t>> flexit_runs;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (FamilySetting::in_family(settings[i].method)) {
      family.emplace_back(i, FamilySetting::from(settings[i].method, methods[i]->parameters()));
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
  return family;
}

// An input's DiffEdit-family stages with the noise streams they draw from (each stage that
// starts a stream starts where a standalone run does).
struct FamilyStages {
  explicit FamilyStages(pipelines::StableDiffusion& sd, const EditRequest& request)
      : stages(sd, request, [this, seed = request.seed]() -> NoiseSource& { return streams.emplace_back(seed); }) {}
  std::deque<SeededNoise> streams;
  DiffEditStages stages;
};

}  // namespace

void edit_shared(pipelines::StableDiffusion& sd, const EditRequest& request, const std::vector<Setting>& settings,
                 const std::function<void(std::size_t, EditResult&&)>& on_result, std::int64_t decode_batch) {
  edit_shared_items(
      sd, {{&request, settings}}, [&](std::size_t, std::size_t i, EditResult&& r) { on_result(i, std::move(r)); }, decode_batch);
}

void edit_shared_items(pipelines::StableDiffusion& sd, const std::vector<ItemSettings>& items,
                       const std::function<void(std::size_t, std::size_t, EditResult&&)>& on_result, std::int64_t decode_batch) {
  if (decode_batch < 1) throw InputError("decode_batch", "must be at least 1");
  if (items.size() > 1 && decode_batch == 1) throw InputError("decode_batch", "must be above 1 to batch the decodings of several items");
  std::vector<std::unique_ptr<FamilyStages>> stages;
  std::vector<DiffEditStages::StagedSetting> family;
  std::vector<std::pair<std::size_t, std::size_t>> owner;  // family[k] is items[first].settings[second]
  for (std::size_t item = 0; item < items.size(); ++item) {
    const EditRequest& request = *items[item].request;
    const auto& settings = items[item].settings;
    auto members = run_outside_family(sd, request, settings, [&](std::size_t i, EditResult&& r) { on_result(item, i, std::move(r)); });
    if (members.empty()) continue;
    stages.push_back(std::make_unique<FamilyStages>(sd, request));
    for (auto& [i, setting] : members) {
      family.push_back({&stages.back()->stages, std::move(setting)});
      owner.emplace_back(item, i);
    }
  }
  if (family.empty()) return;

  torch::NoGradGuard no_grad;
  for (const auto& f : family) f.stages->plan(f.setting);  // every inversion as deep as its settings need
  if (decode_batch > 1) {
    DiffEditStages::run_batched(family, decode_batch,
                                [&](std::size_t k, EditResult&& result) { on_result(owner[k].first, owner[k].second, std::move(result)); });
    return;
  }
  for (std::size_t k = 0; k < family.size(); ++k) on_result(owner[k].first, owner[k].second, family[k].stages->run(family[k].setting));
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
    } else if (m == "pnp") {
      // Encoding under R (guidance 1), the reference's reconstruction under R, then the rows
      // [source, target, target] per step.
      r.denoiser_evaluations = k + (p["inversion"] == "reference" ? k : 0) + 3 * k;
    } else if (m == "p2p" || m == "masactrl") {
      // Encoding under R (or S, guidance 1), then both denoised together. Null-text's optimisation
      // (guided only): per step one conditional prediction, N Adam steps at most (early stopping
      // takes fewer: an upper bound), the step taken.
      const std::int64_t adam = p["null_text_inner_steps"];
      const bool null_text = p["inversion"] == "null_text" && guided == 2 && adam > 0;
      r.denoiser_evaluations = k + 2 * k * guided + (null_text ? k * (2 + adam) : 0);
    } else {  // the DiffEdit family
      const FamilySetting s = FamilySetting::from(m, p);
      const MaskOptions mo = s.options.mask_stage();
      const InversionOptions io = s.options.inversion_stage();
      const std::int64_t mask = s.mask == FamilySetting::Mask::inferred ? mo.samples * (mo.guidance > 1.0 ? 4 : 2) : 0;
      const std::int64_t inversion = s.encoding == FamilySetting::Encoding::ddim ? k * (io.with_reference && io.guidance > 1.0 ? 2 : 1) : 0;
      // Null-text's optimisation along the inversion, as p2p's: an upper bound (early stopping).
      const std::int64_t null_text = optimises_null_text(s) ? k * (2 + s.options.null_text_inner_steps) : 0;
      r.denoiser_evaluations = mask + inversion + null_text + k * guided;
      if (const std::string key = mask_stage_key(s); !key.empty()) r.shared.push_back({key, mask});
      if (const std::string key = inversion_stage_key(s); !key.empty()) r.shared.push_back({key, inversion});
      if (const std::string key = null_text_stage_key(s); !key.empty()) r.shared.push_back({key, null_text});
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
