#include "generated_weights.h"

#include <ATen/ATen.h>

#include "core/rng.h"
#include "test_support.h"

namespace diffedit::testing {

at::Tensor generated_tensor(std::uint64_t seed, const std::vector<std::int64_t>& shape, double low, double high) {
  at::Tensor t = at::empty(shape, at::kFloat);
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    std::uint64_t state = (seed << 32) + static_cast<std::uint64_t>(i);
    const double u = static_cast<double>(rng::splitmix64(state) >> 40) / 16777216.0;
    p[i] = static_cast<float>(low + (high - low) * u);
  }
  return t;
}

const config::Json& weights_spec(const std::string& network) {
  static const config::Json spec = config::load_json(fixture("metrics-v1/weights_spec.json"));
  return spec.at("networks").at(network).at("tensors");
}

safetensors::TensorMap generated_tensors(const config::Json& entries) {
  safetensors::TensorMap out;
  for (const auto& t : entries)
    out[t.at("name").get<std::string>()] =
        generated_tensor(t.at("seed").get<std::uint64_t>(), t.at("shape").get<std::vector<std::int64_t>>(), t.at("low").get<double>(),
                         t.at("high").get<double>());
  return out;
}

safetensors::TensorMap generated_network(const std::string& network) { return generated_tensors(weights_spec(network)); }

std::filesystem::path write_piebench_squeeze(const std::filesystem::path& dir) {
  const config::Json spec = config::load_json(fixture("piebench-v1/weights_spec.json"));
  const std::filesystem::path path = dir / "squeeze.safetensors";
  safetensors::write(path, generated_tensors(spec.at("networks").at("lpips_squeeze")));
  return path;
}

}  // namespace diffedit::testing
