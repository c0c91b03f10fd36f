// Every file of the reference fixtures must open and load with the project's safetensors reader
// (the fixtures' README: "standard safetensors", F32/F64/I64/U8), and `diffedit inspect` must
// describe each one.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "test_support.h"

namespace st = diffedit::safetensors;
using diffedit::testing::fixture;
using diffedit::testing::fixture_safetensors_files;
using diffedit::testing::run_cli;

TEST(FixtureFiles, EveryFixtureSafetensorsFileLoads) {
  const auto files = fixture_safetensors_files();
  ASSERT_GE(files.size(), 30u) << "expected the three fixture sets (diffusers-v0.31, clip-v1, metrics-v1)";
  std::size_t tensors = 0;
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const auto file = st::File::open(path);
    ASSERT_FALSE(file.tensors().empty());
    for (const auto& info : file.tensors()) {
      const at::Tensor t = file.tensor(info.name);
      EXPECT_EQ(t.numel(), static_cast<std::int64_t>(info.numel()));
      EXPECT_EQ(t.scalar_type(), st::to_scalar_type(info.dtype));
      ++tensors;
    }
  }
  EXPECT_GT(tensors, 1000u);
}

TEST(FixtureFiles, KnownContentsOfTheUnetFixture) {
  // diffusers-v0.31 README: SD1 tiny UNet, 2,446,788 parameters in 684 tensors, all F32.
  const auto file = st::File::open(fixture("diffusers-v0.31/unet_sd1_tiny/weights.safetensors"));
  EXPECT_EQ(file.tensors().size(), 684u);
  std::uint64_t params = 0;
  for (const auto& t : file.tensors()) {
    EXPECT_EQ(t.dtype, st::DType::F32) << t.name;
    params += t.numel();
  }
  EXPECT_EQ(params, 2'446'788u);
  const at::Tensor conv_in = file.tensor("conv_in.weight");
  EXPECT_EQ(conv_in.sizes(), (at::IntArrayRef{32, 4, 3, 3}));
  EXPECT_TRUE(at::isfinite(conv_in).all().item<bool>());

  // The scheduler case stores integer timesteps as exact F32 values.
  const auto sched = st::File::open(fixture("diffusers-v0.31/scheduler/scheduler_step_cases.safetensors"));
  EXPECT_TRUE(at::equal(sched.tensor("add_noise.timesteps"), at::tensor({401.0f, 1.0f})));
}

TEST(FixtureFiles, NonFloatDTypesOfTheMetricAndClipFixtures) {
  // clip-v1 stores token ids as I64; metrics-v1 stores images as U8 and statistics as F64.
  const auto tokens = st::File::open(fixture("clip-v1/tokenizer_cases.safetensors"));
  const at::Tensor ids = tokens.tensor("sd1_input_ids");
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids.size(1), 77);
  EXPECT_EQ(ids[0][0].item<std::int64_t>(), 49406) << "every sequence starts with <|startoftext|>";

  const auto inception = st::File::open(fixture("metrics-v1/inception/fid_inception.safetensors"));
  EXPECT_EQ(inception.tensor("image0_u8").scalar_type(), at::kByte);
  const auto frechet = st::File::open(fixture("metrics-v1/fid/frechet.safetensors"));
  EXPECT_EQ(frechet.tensor("a_d64.mu1").scalar_type(), at::kDouble);
}

TEST(FixtureFiles, InspectDescribesEveryFixtureFile) {
  const auto files = fixture_safetensors_files();
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const auto result = run_cli({"inspect", "--json", path.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto json = nlohmann::json::parse(result.out);
    const auto file = st::File::open(path);
    ASSERT_EQ(json["tensors"].size(), file.tensors().size());
    EXPECT_EQ(json["tensors"][0]["name"], file.tensors()[0].name);
    EXPECT_EQ(json["file_bytes"], std::filesystem::file_size(path));
  }
}
