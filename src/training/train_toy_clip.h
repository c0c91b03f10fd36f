// Trains models/toy-clip: a tiny CLIP (text + vision transformers in Hugging Face's CLIPModel
// layout) from scratch, contrastively (Radford et al. 2021: symmetric cross-entropy over the
// batch's image-caption similarities, learnable temperature) on toy-world image / caption pairs.
// Its job is CLIPScore and retrieval on the toy world.
#pragma once

#include <filesystem>

#include "core/config.h"
#include "training/loop.h"

namespace diffedit::training {

const config::Schema& toy_clip_schema();

// Trains into `out`; at the end `out` is a CLIPModel directory (config.json, model.safetensors,
// tokenizer files, preprocessor_config.json). Relative paths in the config are resolved against `base`.
TrainSummary train_toy_clip(const config::Json& config, const std::filesystem::path& out, bool resume,
                            const std::filesystem::path& base = ".", c10::Device device = c10::kCPU);

}  // namespace diffedit::training
