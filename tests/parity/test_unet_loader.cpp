// Loading a UNet from a diffusers component directory: every way it can be wrong is reported by
// name. Built from the unet_sd1_tiny fixture, copied and damaged in a scratch directory.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "models/unet2d_condition.h"
#include "parity_support.h"
#include "test_support.h"

namespace models = diffedit::models;
namespace st = diffedit::safetensors;
using diffedit::testing::fixture;
using diffedit::testing::ScratchDir;

namespace {

// A component directory (config.json + diffusion_pytorch_model.safetensors) from the fixture,
// with `edit` applied to the weights first.
std::filesystem::path make_unet_dir(const ScratchDir& scratch, const std::function<void(st::TensorMap&)>& edit = {}) {
  const auto src = fixture("diffusers-v0.31/unet_sd1_tiny");
  const auto dir = scratch / "unet";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(src / "config.json", dir / "config.json");
  st::TensorMap weights = st::load_all(src / "weights.safetensors");
  if (edit) edit(weights);
  st::write(dir / "diffusion_pytorch_model.safetensors", weights);
  return dir;
}

std::string load_error(const std::filesystem::path& dir, std::string* source = nullptr,
                       const std::optional<std::string>& variant = std::nullopt) {
  try {
    models::load_unet(dir, variant);
  } catch (const diffedit::InputError& e) {
    if (source) *source = e.source();
    return e.problem();
  }
  ADD_FAILURE() << "loading " << dir << " did not fail";
  return "";
}

}  // namespace

TEST(unet_loader, LoadsAComponentDirectory) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch);
  auto unet = models::load_unet(dir);
  const auto c = st::File::open(fixture("diffusers-v0.31/unet_sd1_tiny/case.safetensors"));
  torch::NoGradGuard no_grad;
  const at::Tensor out = unet->forward(c.tensor("case_b.sample"), c.tensor("case_b.timestep").to(at::kLong).reshape({}),
                                       c.tensor("case_b.encoder_hidden_states"));
  EXPECT_TRUE(diffedit::testing::within("load_unet", out, c.tensor("case_b.expected_output"), 1e-5));
}

TEST(unet_loader, MissingFiles) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch);
  std::filesystem::remove(dir / "diffusion_pytorch_model.safetensors");
  std::string source;
  EXPECT_EQ(load_error(dir, &source), "no diffusion_pytorch_model.safetensors");
  EXPECT_EQ(source, dir.string());
  std::filesystem::remove(dir / "config.json");
  EXPECT_EQ(load_error(dir, &source), "no such file");
  EXPECT_EQ(source, (dir / "config.json").string());
}

TEST(unet_loader, RenamedWeightIsNamed) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch, [](st::TensorMap& w) {
    w["conv_in.weight_renamed"] = w.at("conv_in.weight");
    w.erase("conv_in.weight");
  });
  std::string source;
  EXPECT_EQ(load_error(dir, &source), "does not match the model: 1 missing: conv_in.weight; 1 unexpected: conv_in.weight_renamed");
  EXPECT_EQ(source, (dir / "diffusion_pytorch_model.safetensors").string());
}

TEST(unet_loader, WrongShapeIsNamed) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch, [](st::TensorMap& w) { w["conv_out.bias"] = at::zeros({5}); });
  EXPECT_EQ(load_error(dir), "does not match the model: 1 with a wrong shape: conv_out.bias: file [5] vs model [4]");
}

TEST(unet_loader, UnsupportedConfigIsNamed) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch);
  auto cfg = diffedit::config::load_json(dir / "config.json");
  cfg["class_embed_type"] = "timestep";
  diffedit::testing::write_bytes(dir / "config.json", cfg.dump());
  EXPECT_EQ(load_error(dir), "'class_embed_type' = \"timestep\" is not supported (only null)");
  cfg["class_embed_type"] = nullptr;
  cfg["block_out_chanels"] = {1};
  diffedit::testing::write_bytes(dir / "config.json", cfg.dump());
  EXPECT_EQ(load_error(dir).rfind("unknown key 'block_out_chanels' (did you mean 'block_out_channels'?)", 0), 0u);
}

TEST(unet_loader, Fp16VariantLoadsIntoFloat32Model) {
  ScratchDir scratch;
  const auto dir = make_unet_dir(scratch);
  st::TensorMap half;
  for (auto& [name, t] : st::load_all(dir / "diffusion_pytorch_model.safetensors")) half[name] = t.to(at::kHalf);
  st::write(dir / "diffusion_pytorch_model.fp16.safetensors", half);
  std::filesystem::remove(dir / "diffusion_pytorch_model.safetensors");
  const auto unet = models::load_unet(dir, "fp16");
  EXPECT_EQ(unet->parameters()[0].scalar_type(), at::kFloat);
  EXPECT_EQ(load_error(dir), "no diffusion_pytorch_model.safetensors");
}
