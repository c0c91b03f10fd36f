// Trains the toy-world classifier (models/toy-classifier) from scratch: AdamW on cross-entropy,
// batches drawn deterministically from the toy world's train split, checkpoints at intervals,
// resumable after a kill with identical results.
#pragma once

#include <filesystem>
#include <functional>

#include "core/config.h"

namespace diffedit::training {

// The training config schema (configs/train/*.json) for `model: toy-classifier`.
const config::Schema& classifier_schema();

struct TrainSummary {
  std::int64_t steps = 0;
  double first_loss = 0, last_loss = 0;  // means over the first / last 10 steps of this run's history
};

// Trains into `out` (checkpoint/ while running; model.safetensors + config.json at the end).
// With `resume`, continues from out/checkpoint. `config` must be validated by classifier_schema().
TrainSummary train_classifier(const config::Json& config, const std::filesystem::path& out, bool resume);

}  // namespace diffedit::training
