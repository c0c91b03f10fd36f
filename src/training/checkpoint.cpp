#include "training/checkpoint.h"

#include <torch/serialize.h>

#include "core/errors.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "models/state_dict.h"

namespace diffedit::training {

void save_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const TrainingProgress& progress, const config::Json& config) {
  const auto final_dir = dir / "checkpoint";
  const auto tmp = dir / "checkpoint.tmp";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  safetensors::TensorMap weights;
  for (const auto& p : model.named_parameters(true)) weights[p.key()] = p.value().detach();
  for (const auto& b : model.named_buffers(true)) weights[b.key()] = b.value().detach();
  safetensors::write(tmp / "model.safetensors", weights);
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to((tmp / "optimizer.pt").string());
  fs::write_atomic(tmp / "progress.json", config::Json{{"step", progress.step}, {"history", progress.history}, {"config", config}}.dump(1));
  // Swap in: the old checkpoint is removed only once the new one is complete.
  const auto old = dir / "checkpoint.old";
  std::filesystem::remove_all(old);
  if (std::filesystem::exists(final_dir)) std::filesystem::rename(final_dir, old);
  std::filesystem::rename(tmp, final_dir);
  std::filesystem::remove_all(old);
}

std::optional<TrainingProgress> load_checkpoint(const std::filesystem::path& dir, torch::nn::Module& model,
                                                torch::optim::Optimizer& optimizer) {
  auto ckpt = dir / "checkpoint";
  if (!std::filesystem::exists(ckpt / "progress.json") && std::filesystem::exists(dir / "checkpoint.old" / "progress.json"))
    ckpt = dir / "checkpoint.old";  // killed between the two renames
  if (!std::filesystem::exists(ckpt / "progress.json")) return std::nullopt;
  models::load_state_dict(model, safetensors::File::open(ckpt / "model.safetensors"));
  torch::serialize::InputArchive archive;
  try {
    // Onto the CPU whatever device wrote it: the trainer moves the whole state afterwards.
    archive.load_from((ckpt / "optimizer.pt").string(), c10::Device(c10::kCPU));
  } catch (const c10::Error& e) {
    throw FormatError((ckpt / "optimizer.pt").string(), "cannot read the optimizer state");
  }
  optimizer.load(archive);
  const config::Json j = config::load_json(ckpt / "progress.json");
  TrainingProgress p;
  p.step = j.at("step").get<std::int64_t>();
  p.history = j.at("history");
  return p;
}

}  // namespace diffedit::training
