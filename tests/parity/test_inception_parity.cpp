// FID Inception-v3 parity with pytorch-fid (fixture: metrics-v1/inception), weights from the
// fixtures' generator: the resized input, block outputs and pool3 features for inputs of 299x299
// (identity resize), 64x64 (upscale), 128x96 and 160x200.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "generated_weights.h"
#include "models/inception_fid.h"
#include "parity_support.h"
#include "test_support.h"

using diffedit::testing::fixture;
using diffedit::testing::within;

// README suggested tolerances: pool3 1e-4 absolute (float32 vs float64 differ by ~3e-6 on values
// up to ~6), block outputs 1e-4.
TEST(InceptionParity, Pool3AndBlocks) {
  diffedit::testing::ScratchDir dir;
  diffedit::safetensors::write(dir / "w.safetensors", diffedit::testing::generated_network("fid_inception_v3"));
  auto net = diffedit::models::load_inception_fid(dir / "w.safetensors");
  const auto f = diffedit::safetensors::File::open(fixture("metrics-v1/inception/fid_inception.safetensors"));
  torch::NoGradGuard no_grad;
  const at::Tensor pool3 = f.tensor("pool3");
  for (std::int64_t i = 0; i < 4; ++i) {
    const at::Tensor x = f.tensor("image" + std::to_string(i) + "_u8").to(at::kFloat).unsqueeze(0) / 255.0f;
    std::vector<at::Tensor> blocks;
    const at::Tensor out = net->forward(x, i == 1 ? &blocks : nullptr);
    EXPECT_TRUE(within("pool3 image" + std::to_string(i), out[0], pool3[i], 1e-4));
    if (i != 1) continue;
    EXPECT_TRUE(within("resized ch0", diffedit::models::InceptionFidImpl::preprocess(x).slice(1, 0, 1),
                       f.tensor("image1.resized_normalized.ch0"), 1e-5));
    const std::vector<std::int64_t> first = {8, 32, 128};
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string b = "image1.block" + std::to_string(k);
      EXPECT_TRUE(
          within(b + " first", blocks[k].slice(1, 0, 8), f.tensor(b + ".first" + std::to_string(first[k]) + "ch").slice(1, 0, 8), 1e-4));
      EXPECT_TRUE(within(b + " chmean", blocks[k].mean({2, 3}), f.tensor(b + ".chmean"), 1e-4));
    }
  }
}
