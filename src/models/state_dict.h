// Loading checkpoints into native modules. The module tree carries diffusers' parameter names,
// so a state dict maps one to one; anything that does not line up is reported by name.
#pragma once

#include <torch/nn.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace diffedit::models {

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the module
  std::vector<std::string> mismatched;  // "name: file [..] vs module [..]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string summary() const;  // one line, lists truncated
};

// Compares the file's tensors (under `prefix`, which is stripped) with the module's parameters
// and buffers. Copies values (converting dtype) only when everything lines up; otherwise throws
// FormatError naming the file and the first names of each kind of problem.
// Names in `ignore_unexpected` may be in the file without being in the module (legacy buffers, or
// the other half of a combined checkpoint); names in `ignore_missing` may be absent from the file
// (they keep their initial values). An entry may hold one '*' matching any run of characters.
void load_state_dict(torch::nn::Module& module, const safetensors::File& file, const std::string& prefix = "",
                     const std::vector<std::string>& ignore_unexpected = {}, const std::vector<std::string>& ignore_missing = {});
LoadReport check_state_dict(const torch::nn::Module& module, const safetensors::File& file, const std::string& prefix = "");

// A module's parameters by name (detached, contiguous), as a checkpoint file stores them.
safetensors::TensorMap parameter_tensors(const torch::nn::Module& module);

// The weights file of a diffusers component directory: `<stem>.safetensors`, or with a variant
// ("fp16") `<stem>.fp16.safetensors`. FileError listing what was looked for when absent.
std::filesystem::path find_weights(const std::filesystem::path& dir, const std::string& stem,
                                   const std::optional<std::string>& variant = std::nullopt);

}  // namespace diffedit::models
