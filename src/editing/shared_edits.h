// One input edited under many settings, doing once what settings share (the hardware-independent
// speed of a sweep). The DiffEdit family (`diffedit`, `diffedit_oracle_mask`, `encode_decode`,
// `mask_no_encoding`) runs through one DiffEditStages (editing/diffedit_stages.h), the same code a
// method run alone uses:
// - the continuous mask map depends on MaskOptions and the reference text, not on the threshold
//   or the encoding ratio r: it is estimated once per key and thresholded for every setting;
// - DDIM inversion is deterministic and its trajectory to a larger r passes through every smaller
//   r's: one inversion per key, to the largest r any setting needs, serves all.
// When the posterior is sampled (diffusers_compat), the encoded latent is drawn from the noise
// stream after the mask's draws, so such inversions are shared only by settings with the same mask.
// FlexIT's settings that differ only in `iterations` share one optimisation run, saved at each
// count. Every other method runs alone through the registry.
//
// Each result is bit-identical to running its method alone on the same request and seed (test);
// its `denoiser_evaluations` is that standalone cost and `shared` names the stages it shares.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "editing/method.h"

namespace diffedit::editing {

struct Setting {
  std::string method;
  config::Json parameters;  // as written in a config; validated by the method's schema here
};

// Calls `on_result(i, result)` for each settings[i] as soon as it is done (in an order that
// reuses the shared stages). Noise: SeededNoise(request.seed), fresh for each standalone method and
// for each shared stage, consumed in the order the standalone method would consume it.
// `decode_batch` > 1 batches the DiffEdit family's decodings, that many per denoiser call
// (DiffEditStages::run_batched): faster, and equal to the standalone results up to float rounding
// instead of bit for bit.
void edit_shared(pipelines::StableDiffusion& sd, const EditRequest& request, const std::vector<Setting>& settings,
                 const std::function<void(std::size_t, EditResult&&)>& on_result, std::int64_t decode_batch = 1);

// edit_shared over several inputs (the items of a batch): each input's settings as above, and the
// DiffEdit family's decodings of all inputs pooled, `decode_batch` (> 1) per denoiser call, each
// under its own input's texts. Masks and inversions still run per input. Calls
// `on_result(item, i, result)` for items[item].settings[i]; results equal edit_shared's on each
// input alone up to float rounding.
struct ItemSettings {
  const EditRequest* request = nullptr;
  std::vector<Setting> settings;
};
void edit_shared_items(pipelines::StableDiffusion& sd, const std::vector<ItemSettings>& items,
                       const std::function<void(std::size_t, std::size_t, EditResult&&)>& on_result, std::int64_t decode_batch);

// The evaluation accounting of the results of one input, per stage kind: "mask", "inversion"
// (the first word of a shared stage's key) and "per_setting" (each result's own evaluations).
// `done` counts stages with equal keys once (a shared key costs the largest count recorded for
// it, the deepest inversion); `if_independent` counts every result's stages as if it ran alone.
struct StageEvaluations {
  std::int64_t done = 0, if_independent = 0;
};
std::map<std::string, StageEvaluations> evaluations_by_stage(const std::vector<const EditResult*>& results);

// The same accounting for one input, predicted from the settings alone (no model, no image): what
// `run --dry-run` reports. Settings are validated as edit_shared does (ConfigError).
std::map<std::string, StageEvaluations> estimate_evaluations(const std::vector<Setting>& settings);

}  // namespace diffedit::editing
