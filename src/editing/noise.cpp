#include "editing/noise.h"

#include <ATen/ATen.h>

#include <sstream>

#include "core/rng.h"

namespace diffedit::editing {

SeededNoise::SeededNoise(std::uint64_t seed) : generator_(rng::cpu_generator(seed)) {}

at::Tensor SeededNoise::randn(at::IntArrayRef shape) { return rng::randn(shape, generator_); }

at::Tensor RecordedNoise::randn(at::IntArrayRef shape) {
  if (next_ >= draws_.size())
    throw std::logic_error("recorded noise: draw " + std::to_string(next_) + " requested but only " + std::to_string(draws_.size()) +
                           " were recorded");
  const at::Tensor& t = draws_[next_];
  if (t.sizes() != shape) {
    std::ostringstream msg;
    msg << "recorded noise: draw " << next_ << " has shape " << t.sizes() << " but " << shape << " was requested";
    throw std::logic_error(msg.str());
  }
  ++next_;
  return t.to(at::kFloat);
}

}  // namespace diffedit::editing
