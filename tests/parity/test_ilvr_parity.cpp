// ILVR's MATLAB-style resizer against the reference `resizer.py` (fixture metrics-v1/ilvr): the
// 1-D weights and indices, down(x) and up(down(x)) for every case and factor in the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "core/safetensors.h"
#include "editing/ilvr_resizer.h"
#include "parity_support.h"
#include "test_support.h"

namespace ed = diffedit::editing;
using diffedit::testing::fixture;
using diffedit::testing::within;

TEST(ilvr_parity, ResizerWeightsAndOutputs) {
  const auto f = diffedit::safetensors::File::open(fixture("metrics-v1/ilvr/ilvr.safetensors"));
  // The fixture README suggests 1e-6 absolute (float32 vs float64 of the reference: about 3e-7).
  constexpr double kTolerance = 1e-6;
  std::set<std::pair<std::string, std::int64_t>> cases;
  const std::regex name(R"(^(\w+)\.N(\d+)\.down$)");
  for (const auto& t : f.tensors()) {
    std::smatch m;
    if (std::regex_match(t.name, m, name)) cases.insert({m[1], std::stoll(m[2])});
  }
  ASSERT_FALSE(cases.empty());
  for (const auto& [c, n] : cases) {
    const std::string key = c + ".N" + std::to_string(n);
    SCOPED_TRACE(key);
    const at::Tensor x = f.tensor(c + ".x_u8").to(at::kFloat) / 127.5 - 1;  // guided_diffusion's load_reference
    const auto down_w = ed::resize_contributions(x.size(2), 1.0 / static_cast<double>(n));
    EXPECT_TRUE(at::equal(down_w.fov, f.tensor(key + ".down_fov_H")));
    EXPECT_TRUE(within(key + " down weights", down_w.weights, f.tensor(key + ".down_weights_H"), 0.0));
    const auto up_w = ed::resize_contributions(x.size(2) / n, static_cast<double>(n));
    EXPECT_TRUE(at::equal(up_w.fov, f.tensor(key + ".up_fov_H")));
    EXPECT_TRUE(within(key + " up weights", up_w.weights, f.tensor(key + ".up_weights_H"), 0.0));
    const at::Tensor down = ed::matlab_resize(x, 1.0 / static_cast<double>(n));
    EXPECT_TRUE(within(key + " down", down, f.tensor(key + ".down"), kTolerance));
    EXPECT_TRUE(within(key + " up(down)", ed::ilvr_lowpass(x, n), f.tensor(key + ".up"), kTolerance));
  }
}
