// Deterministic randomness. A work item's generator is seeded by derive_seed(base, key), so its
// noise depends only on the experiment seed and the item's identity, never on the order, shard
// or thread that runs it. Noise is always drawn on the CPU and then moved to the target device,
// so CPU and CUDA runs of the same seed start from the same noise.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string_view>

namespace diffedit::rng {

// One step of splitmix64 (Steele, Lea, Flood 2014): advances `state`, returns the next output.
std::uint64_t splitmix64(std::uint64_t& state);

// A seed for `key` (e.g. "toy-coco/val/17/diffedit") under the experiment seed `base`.
std::uint64_t derive_seed(std::uint64_t base, std::string_view key);

// A CPU generator (torch's Mersenne Twister) with the given seed.
at::Generator cpu_generator(std::uint64_t seed);

// Standard normal noise drawn on the CPU with `generator`, then converted to `options`
// (dtype/device).
at::Tensor randn(at::IntArrayRef shape, at::Generator& generator, const at::TensorOptions& options = at::TensorOptions());

}  // namespace diffedit::rng
