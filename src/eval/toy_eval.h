// The toy world's quality measures (`diffedit toy-eval`): how well the embedded toy models do the
// jobs the benchmark gives them, on the test split, against the bars of the toy-world spec
// (datasets/toyworld/README.md). Two parts:
//  - checks of the models themselves, computed here:
//      classifier_accuracy        toy classifier on clean test images
//      clip_top1_of_100           toy CLIP image->caption retrieval among 100 captions
//      t2i_class_agreement        classifier agrees with the prompted class on toy-sd generations
//    with diagnostics: t2i_{colour,shape}_agreement; `retention`: for test images noised to a level
//    sigma (x_t / sqrt(a_t) = x_0 + sigma eps) and DDIM-denoised back under their own class name
//    (SDEdit reconstructing its input, guidance 1), how often the classifier still finds the
//    input's shape and colour, and the same judged on the denoiser's one-step estimate of x0
//    (shape_one_step / colour_one_step), which separates the network from the sampler's walk back;
//    text_{shape,colour}_distance, text_closest_shapes(_distance), text_shape_pair_distances: how far
//    apart toy-sd's text encoder puts class names that differ only in shape or only in colour.
//  - the edit bars, read off the records of an experiment the runner executes
//    (configs/toy/toy-eval.json; edit_bars below):
//      diffedit_mask_iou_median   DiffEdit mask (latent grid, upsampled) vs the true edit region
//      diffedit_edit_success      edited image classified as the target class
//      diffedit_unedited_psnr_db  PSNR outside the true region, edited vs input (aggregate MSE)
//      diffedit_dominates_sdedit  DiffEdit's (success, unedited PSNR) points over r dominate
//                                 SDEdit's (see dominates())
//    at the DiffEdit setting of r = `strength`, with diagnostics: the success's binomial standard
//    error sqrt(p (1 - p) / n) (key + "_se"), diffedit_edit_success_{colour,shape} (the predicted
//    class's colour / shape matches the target's), the per-image PSNR median, the target PSNR,
//    denoiser evaluations per edit, and `sweep`: every DiffEdit and SDEdit setting's point.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/toyworld.h"
#include "diffusion/scheduler_config.h"
#include "eval/experiment.h"

namespace diffedit::eval {

struct ToyEvalOptions {
  std::filesystem::path models = "models";  // holds toy-classifier/, toy-sd/, toy-clip/
  std::int64_t classifier_items = 1000;
  std::int64_t t2i_prompts = 256;  // class-name prompts, cycling through the classes
  std::int64_t clip_queries = 500;
  std::int64_t retention_items = 128;                           // test images per retention level
  std::vector<double> retention_sigmas = {0.5, 0.7, 1.0, 2.0};  // objects differ from backgrounds by 0.5-1 in [-1, 1]
  double guidance = 5.0;                                        // text-to-image sampling (the edits take the experiment's)
  std::int64_t steps = 50;
  data::toyworld::WorldSpec world;  // the world the items are drawn from (its classes are the t2i prompts)
  std::uint64_t world_seed = 0, seed = 0;
  // The edit bars: a resolved experiment config (configs/toy/toy-eval.json), run (or resumed) in
  // `runs`; the DiffEdit setting at r = `strength` gives the main keys (0.8: the paper's ImageNet point).
  config::Json experiment;
  std::filesystem::path runs;
  double strength = 0.8;
  bool quiet = false;  // no progress bar for the experiment
};

// A point of an edit-strength / fidelity trade-off.
struct TradeoffPoint {
  double strength = 0, success = 0, psnr_db = 0;
};

// True when every point of `b` is matched by a point of `a` at least as good in both success and
// PSNR, or lies below the segment joining two of a's points (a's upper-left frontier).
bool dominates(const std::vector<TradeoffPoint>& a, const std::vector<TradeoffPoint>& b);

// SDEdit's strength on a `steps`-step DDIM grid whose first timestep is the noisiest with
// sigma_t = sqrt((1 - a_t) / a_t) <= sigma, and that timestep; strength 0 (no noise) when none is.
struct StrengthForSigma {
  double strength = 0;
  std::int64_t timestep = -1;
};
StrengthForSigma strength_for_sigma(const diffusion::SchedulerConfig& scheduler, std::int64_t steps, double sigma);

// The edit bars (the keys above) from a toy-eval experiment's records. ConfigError when the
// experiment has no DiffEdit setting, or two, at r = `strength`; InputError when none of its
// records finished.
config::Json edit_bars(const Experiment& e, const std::map<std::string, config::Json>& records, double strength);

// Runs what the models present allow; a missing model leaves its keys null with a reason under
// "pending". `log` receives one line per finished part.
config::Json run_toy_eval(const ToyEvalOptions& options, const std::function<void(const std::string&)>& log = {});

}  // namespace diffedit::eval
