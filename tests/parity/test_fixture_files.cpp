// Every file of the reference fixtures must open and load with the project's safetensors reader
// (the fixtures' README: "standard safetensors", F32/F64/I64/U8), and `diffedit inspect` must
// describe each one.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/config.h"
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

TEST(FixtureFiles, ContentsMatchTheirDescriptions) {
  // Each case.json states its weights' tensor and parameter counts; the file must agree.
  for (const char* name : {"unet_sd1_tiny", "unet_sd2_tiny", "vae_tiny"}) {
    SCOPED_TRACE(name);
    const auto dir = fixture(std::string("diffusers-v0.31/") + name);
    const auto meta = diffedit::config::load_json(dir / "case.json");
    const auto file = st::File::open(dir / "weights.safetensors");
    if (meta.contains("num_state_dict_tensors")) {
      EXPECT_EQ(file.tensors().size(), meta["num_state_dict_tensors"].get<std::size_t>());
    }
    std::uint64_t params = 0;
    for (const auto& t : file.tensors()) {
      EXPECT_EQ(t.dtype, st::DType::F32) << t.name;  // the README: every tensor is F32
      params += t.numel();
    }
    EXPECT_EQ(params, meta["num_parameters"].get<std::uint64_t>());
    EXPECT_TRUE(at::isfinite(file.tensor(file.tensors().front().name)).all().item<bool>());
  }
  // The scheduler cases store integer timesteps as exact F32 values, repeated in the JSON.
  const auto sched_json = diffedit::config::load_json(fixture("diffusers-v0.31/scheduler/scheduler.json"));
  const auto sched = st::File::open(fixture("diffusers-v0.31/scheduler/scheduler_step_cases.safetensors"));
  for (const auto& c : sched_json["step_cases"]) {
    if (c.contains("timesteps")) {
      EXPECT_TRUE(
          at::equal(sched.tensor(c["name"].get<std::string>() + ".timesteps"), at::tensor(c["timesteps"].get<std::vector<float>>())));
    }
  }
}

TEST(FixtureFiles, NonFloatDTypesOfTheMetricAndClipFixtures) {
  // clip-v1 stores token ids as I64; metrics-v1 stores images as U8 and statistics as F64.
  const auto tokens = st::File::open(fixture("clip-v1/tokenizer_cases.safetensors"));
  const at::Tensor ids = tokens.tensor("sd1_input_ids");
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids.size(1), 77);
  const auto cases = diffedit::config::load_json(fixture("clip-v1/tokenizer_cases.json"));
  EXPECT_TRUE(at::all(ids.select(1, 0) == cases["bos_token_id"].get<std::int64_t>()).item<bool>())
      << "every sequence starts with <|startoftext|>";

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
