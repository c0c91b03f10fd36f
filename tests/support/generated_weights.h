// Networks of the metric fixtures are never stored: their weights come from a counter-based
// generator specified in metrics-v1/README.md ("Weight generator") with per-tensor seeds, ranges
// and checksums in weights_spec.json. This builds the same tensors.
#pragma once

#include <filesystem>
#include <string>

#include "core/config.h"
#include "core/safetensors.h"

namespace diffedit::testing {

// Element i of a tensor with seed s: u = (splitmix64((s << 32) + i) >> 40) / 2^24,
// value = float32(low + (high - low) * u) computed in double.
at::Tensor generated_tensor(std::uint64_t seed, const std::vector<std::int64_t>& shape, double low, double high);

// Every tensor of spec entries (each with name, shape, seed, low and high), by name.
safetensors::TensorMap generated_tensors(const config::Json& entries);

// Every tensor of `network` ("lpips_alex", "lpips_vgg", "lpips_squeeze", "fid_inception_v3") in
// weights_spec.json, by name.
safetensors::TensorMap generated_network(const std::string& network);

// piebench-v1's LPIPS squeeze network (its weights_spec.json: this rule, that set's seeds) written
// to dir/squeeze.safetensors, for metrics::PerceptualDistance::load("lpips-squeeze", <the path>).
std::filesystem::path write_piebench_squeeze(const std::filesystem::path& dir);

// The spec entries of a network (name, shape, seed, low, high, first4, last4, sum_f64).
const config::Json& weights_spec(const std::string& network);

}  // namespace diffedit::testing
