// A complete tiny Stable Diffusion directory in the diffusers layout, assembled from the reference
// fixtures (unet_sd1_tiny, vae_tiny, clip-v1 text_sd1 + tokenizer, the SD1 DDIM scheduler config).
#pragma once

#include <filesystem>

namespace diffedit::testing {

// Writes the pipeline into `dir` (created) and returns it.
std::filesystem::path make_tiny_pipeline(const std::filesystem::path& dir);

}  // namespace diffedit::testing
