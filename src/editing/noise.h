// Where an editing method's random draws come from. Methods ask for noise through this interface,
// so the benchmark can seed it per work item and parity tests can replay the exact tensors a
// reference implementation drew, in order.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace diffedit::editing {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // Standard normal noise of `shape`, float32, on the CPU.
  virtual at::Tensor randn(at::IntArrayRef shape) = 0;
};

// Draws from a CPU generator seeded once (rng::cpu_generator).
class SeededNoise : public NoiseSource {
 public:
  explicit SeededNoise(std::uint64_t seed);
  at::Tensor randn(at::IntArrayRef shape) override;

 private:
  at::Generator generator_;
};

// Replays recorded tensors in order; a shape mismatch or running out is an error naming the draw.
class RecordedNoise : public NoiseSource {
 public:
  explicit RecordedNoise(std::vector<at::Tensor> draws) : draws_(std::move(draws)) {}
  at::Tensor randn(at::IntArrayRef shape) override;
  std::size_t used() const { return next_; }

 private:
  std::vector<at::Tensor> draws_;
  std::size_t next_ = 0;
};

}  // namespace diffedit::editing
