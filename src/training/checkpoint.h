// Training checkpoints that survive a kill: weights (safetensors, the format the models ship in),
// optimizer state (libtorch archive) and progress (JSON), written to a temporary directory and
// renamed into place so a half-written checkpoint is never read.
#pragma once

#include <torch/nn.h>
#include <torch/optim.h>

#include <filesystem>
#include <optional>

#include "core/config.h"

namespace diffedit::training {

struct TrainingProgress {
  std::int64_t step = 0;
  config::Json history = config::Json::array();  // [{"step", "loss"}, ...]
};

void save_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const TrainingProgress& progress, const config::Json& config);
// Loads `dir/checkpoint` if present; nullopt when there is none.
std::optional<TrainingProgress> load_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model,
                                                torch::optim::Optimizer& optimizer);

}  // namespace diffedit::training
