#include "tiny_pipeline.h"

#include "core/config.h"
#include "core/fs.h"
#include "test_support.h"

namespace diffedit::testing {

std::filesystem::path make_tiny_pipeline(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const auto diffusers = fixtures_root() / "diffusers-v0.31";
  const auto clip = fixtures_root() / "clip-v1";
  for (const char* sub : {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}) fs::create_directories(dir / sub);
  fs::copy_file(diffusers / "unet_sd1_tiny/config.json", dir / "unet/config.json");
  fs::copy_file(diffusers / "unet_sd1_tiny/weights.safetensors", dir / "unet/diffusion_pytorch_model.safetensors");
  fs::copy_file(diffusers / "vae_tiny/config.json", dir / "vae/config.json");
  fs::copy_file(diffusers / "vae_tiny/weights.safetensors", dir / "vae/diffusion_pytorch_model.safetensors");
  fs::copy_file(clip / "text_sd1/config.json", dir / "text_encoder/config.json");
  fs::copy_file(clip / "text_sd1/model.safetensors", dir / "text_encoder/model.safetensors");
  for (const char* f : {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"})
    fs::copy_file(clip / "tokenizer" / f, dir / "tokenizer" / f);
  auto scheduler = config::load_json(diffusers / "scheduler/scheduler.json")["DDIMScheduler"]["config"];
  scheduler["_class_name"] = "DDIMScheduler";
  diffedit::fs::write_atomic(dir / "scheduler/scheduler_config.json", scheduler.dump(2));
  const config::Json index = {{"_class_name", "StableDiffusionPipeline"},
                              {"_diffusers_version", "0.31.0"},
                              {"unet", {"diffusers", "UNet2DConditionModel"}},
                              {"vae", {"diffusers", "AutoencoderKL"}},
                              {"text_encoder", {"transformers", "CLIPTextModel"}},
                              {"tokenizer", {"transformers", "CLIPTokenizer"}},
                              {"scheduler", {"diffusers", "DDIMScheduler"}},
                              {"safety_checker", {nullptr, nullptr}},
                              {"feature_extractor", {nullptr, nullptr}}};
  diffedit::fs::write_atomic(dir / "model_index.json", index.dump(2));
  return dir;
}

}  // namespace diffedit::testing
