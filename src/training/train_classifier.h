// Trains the toy-world classifier (models/toy-classifier) from scratch: AdamW on cross-entropy,
// batches drawn deterministically from the toy world's train split, checkpoints at intervals,
// resumable after a kill with identical results.
#pragma once

#include <filesystem>
#include <functional>

#include "core/config.h"
#include "training/loop.h"

namespace diffedit::training {

// The training config schema (configs/train/*.json) for `model: toy-classifier`.
const config::Schema& classifier_schema();

// Trains into `out` (checkpoint/ while running; model.safetensors + config.json at the end).
// With `resume`, continues from out/checkpoint. `config` must be validated by classifier_schema().
TrainSummary train_classifier(const config::Json& config, const std::filesystem::path& out, bool resume, c10::Device device = c10::kCPU);

}  // namespace diffedit::training
