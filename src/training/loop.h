// Pieces every toy-model training loop shares: the common config fields, resume and per-step
// bookkeeping (checkpoints, progress line), the learning-rate schedule, the exponential moving
// average of weights, the loss summaries, and the tokenizer files a trained model carries.
#pragma once

#include <torch/nn.h>
#include <torch/optim.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/progress.h"
#include "training/checkpoint.h"

namespace diffedit::training {

struct TrainSummary {
  std::int64_t steps = 0;
  double first_loss = 0, last_loss = 0;  // means over the first / last 10 steps of this run's history
};

// Linear warm-up over `warmup` steps, then cosine decay to 0 at `steps`. A function of the step
// alone, so a resumed run needs no scheduler state.
double warmup_cosine_lr(double base, std::int64_t warmup, std::int64_t step, std::int64_t steps);
void set_lr(torch::optim::Optimizer& optimizer, double lr);

// ema <- d ema + (1 - d) model, with d = min(decay, (1 + step) / (10 + step)) so the average is
// not dominated by the initial weights early on. Parameters are matched by name; frozen ones
// (requires_grad false in `model`) are left as they are.
void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay, std::int64_t step);

// The mean loss over history[from, to) (history entries {"step", "loss"}); 0 for an empty range.
double mean_loss(const config::Json& history, std::size_t from, std::size_t to);
// The mean loss of the last 20 steps of a history, for the progress line ("0.04812").
std::string format_loss(const config::Json& history);
// Mean losses over consecutive windows of `window` steps: [{"step": first step, "loss"}, ...].
config::Json loss_curve(const config::Json& history, std::size_t window);

// A path from a training config, relative paths taken from the config file's directory `base`.
std::filesystem::path config_path(const config::Json& config, const std::string& key, const std::filesystem::path& base);
// Copies the CLIP tokenizer files present in `from` (vocab.json, merges.txt, special_tokens_map.json,
// tokenizer_config.json) into `to`, so a trained model directory is self-contained.
void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

// Config fields every toy-model trainer has (steps, batch_size, lr, warmup, weight_decay, seed,
// world_seed, checkpoint_every), with the given defaults, followed by `extra`.
struct CommonDefaults {
  std::int64_t steps, batch_size;
  double lr;
  std::int64_t warmup;
  double weight_decay;
};
config::Schema training_schema(const std::string& model, const CommonDefaults& defaults, std::vector<config::Schema::Field> extra);

// With `resume`, the progress of out/checkpoint (loading `state` and `optimizer`) if there is one;
// otherwise a fresh start.
TrainingProgress start_or_resume(const std::filesystem::path& out, torch::nn::Module& state, torch::optim::Optimizer& optimizer,
                                 bool resume);

// After a step: NumericError if `loss` is not finite; records it, shows the recent mean loss on
// the bar, and writes a checkpoint every `config.checkpoint_every` steps and at the last step.
void end_step(double loss, std::int64_t step, TrainingProgress& progress, diffedit::Progress& bar, const std::filesystem::path& out,
              torch::nn::Module& state, torch::optim::Optimizer& optimizer, const config::Json& config);

// Moves a training state and its AdamW moment buffers to `device`. Trainers
// build and resume on the CPU, so the initial weights and a resumed state are the same on every
// device, then move here. Module::to keeps the parameters' identities, so the optimizer still
// refers to them.
void move_to_device(torch::nn::Module& state, torch::optim::Optimizer& optimizer, c10::Device device);

// Summary over history[from, end) (history entries {"step", "loss"}).
TrainSummary summarize(const config::Json& history, std::size_t from, std::int64_t steps);

}  // namespace diffedit::training
