#include "training/train_classifier.h"

#include <ATen/ATen.h>
#include <torch/optim.h>

#include <chrono>
#include <cmath>
#include <numbers>

#include "core/errors.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "models/state_dict.h"
#include "models/toy_classifier.h"
#include "training/checkpoint.h"
#include "training/loop.h"

namespace diffedit::training {

namespace {
using config::Json;
using config::Schema;

}  // namespace

const Schema& classifier_schema() {
  static const Schema schema =
      training_schema("toy-classifier", {3000, 64, 2e-3, 100, 0.01}, {{"width", Schema::integer().range(8, 512).def(32)}});
  return schema;
}

TrainSummary train_classifier(const Json& c, const std::filesystem::path& out, bool resume, c10::Device device) {
  std::filesystem::create_directories(out);
  torch::manual_seed(c["seed"].get<std::uint64_t>());
  models::ToyClassifierConfig mc;
  mc.width = c["width"];
  mc.num_classes = data::toyworld::num_classes();
  models::ToyClassifier model(mc);
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(c["lr"].get<double>()).weight_decay(c["weight_decay"].get<double>()));
  TrainingProgress progress = start_or_resume(out, *model, optimizer, resume);
  move_to_device(*model, optimizer, device);
  const std::int64_t steps = c["steps"], batch = c["batch_size"];
  const std::uint64_t world_seed = c["world_seed"];
  const auto world = data::toyworld::world_from_json(c["world"], "config: world");
  const std::size_t history_start = progress.history.size();
  diffedit::Progress bar("train toy-classifier", steps - progress.step);
  model->train();
  for (std::int64_t step = progress.step; step < steps; ++step) {
    // Batch `step` is items [step * batch, (step + 1) * batch) of the train split: a resumed run
    // sees exactly the data an uninterrupted one would.
    std::vector<at::Tensor> images;
    std::vector<std::int64_t> labels;
    for (const auto& item : data::toyworld::generate_batch("train", step * batch, batch, world_seed, world)) {
      images.push_back(item.image);
      labels.push_back(item.label);
    }
    const at::Tensor x = at::stack(images).to(device), y = at::tensor(labels, at::kLong).to(device);
    // Learning rate: linear warm-up, then cosine decay to 0 (a function of the step, so resuming
    // needs no extra state).
    set_lr(optimizer, warmup_cosine_lr(c["lr"].get<double>(), c["warmup"].get<std::int64_t>(), step, steps));
    optimizer.zero_grad();
    const at::Tensor loss = at::cross_entropy_loss(model->forward(x), y);
    loss.backward();
    optimizer.step();
    end_step(loss.item<double>(), step, progress, bar, out, *model, optimizer, c);
  }
  bar.finish();
  model->to(c10::kCPU);

  // The shipped layout: config.json + model.safetensors.
  safetensors::write(out / "model.safetensors", models::parameter_tensors(*model), {{"format", "pt"}, {"producer", "diffedit train"}});
  fs::write_atomic(out / "config.json", mc.to_json().dump(2));
  return summarize(progress.history, history_start, progress.step);
}

}  // namespace diffedit::training
