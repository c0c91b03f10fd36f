#include "core/rng.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/randn.h>

namespace diffedit::rng {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t derive_seed(std::uint64_t base, std::string_view key) {
  // FNV-1a over the key, mixed with the base seed through splitmix64.
  std::uint64_t hash = 0xCBF29CE484222325ULL;
  for (const unsigned char c : key) hash = (hash ^ c) * 0x100000001B3ULL;
  std::uint64_t state = base ^ splitmix64(hash);
  return splitmix64(state);
}

at::Generator cpu_generator(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor randn(at::IntArrayRef shape, at::Generator& generator, const at::TensorOptions& options) {
  const auto dtype = options.has_dtype() ? options.dtype().toScalarType() : c10::kFloat;
  // Draw in float32 on the CPU (what reference pipelines do), then convert.
  at::Tensor noise = at::randn(shape, generator, at::TensorOptions().dtype(c10::kFloat).device(c10::kCPU));
  return noise.to(options.device_opt().value_or(c10::kCPU), dtype);
}

}  // namespace diffedit::rng
