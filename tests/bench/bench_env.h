// The environment the benchmarks that scripts/gpu-check.sh runs read (bench_models' UNet cases,
// bench_methods' DiffEditModelDir); unset, each has its CPU / float32 default.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/cuda.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/device.h"
#include "pipelines/pipeline.h"

namespace diffedit::bench {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
inline std::int64_t env_int(const char* name, std::int64_t fallback) { return std::stoll(env_or(name, std::to_string(fallback))); }
// DIFFEDIT_BENCH_DEVICE: cpu (default), cuda, cuda:N.
inline c10::Device device() { return parse_device(env_or("DIFFEDIT_BENCH_DEVICE", "cpu"), "DIFFEDIT_BENCH_DEVICE"); }
// DIFFEDIT_BENCH_DTYPE: float32 (default), float16, bfloat16.
inline c10::ScalarType dtype() { return pipelines::parse_dtype(env_or("DIFFEDIT_BENCH_DTYPE", "float32")); }
// Waits for the GPU's queued work (a timed region must end with it on CUDA).
inline void sync(c10::Device d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

}  // namespace diffedit::bench
