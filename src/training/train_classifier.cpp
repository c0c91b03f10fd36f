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
#include "models/toy_classifier.h"
#include "training/checkpoint.h"
#include "training/loop.h"

namespace diffedit::training {

namespace {
using config::Json;
using config::Schema;

}  // namespace

const Schema& classifier_schema() {
  static const Schema schema = Schema::object({
      {"model", Schema::string().choices({"toy-classifier"}).required()},
      {"steps", Schema::integer().range(1, std::nullopt).def(3000)},
      {"batch_size", Schema::integer().range(1, 4096).def(64)},
      {"lr", Schema::number().range(0, 1).def(2e-3)},
      {"warmup", Schema::integer().range(0, std::nullopt).def(100).doc("linear warm-up steps, then cosine decay to 0")},
      {"weight_decay", Schema::number().range(0, 1).def(0.01)},
      {"width", Schema::integer().range(8, 512).def(32)},
      {"seed", Schema::integer().range(0, std::nullopt).def(0)},
      {"world_seed", Schema::integer().range(0, std::nullopt).def(0)},
      {"checkpoint_every", Schema::integer().range(1, std::nullopt).def(250).doc("steps between checkpoints")},
  });
  return schema;
}

TrainSummary train_classifier(const Json& c, const std::filesystem::path& out, bool resume) {
  std::filesystem::create_directories(out);
  torch::manual_seed(c["seed"].get<std::uint64_t>());
  models::ToyClassifierConfig mc;
  mc.width = c["width"];
  mc.num_classes = data::toyworld::num_classes();
  models::ToyClassifier model(mc);
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(c["lr"].get<double>()).weight_decay(c["weight_decay"].get<double>()));
  Progress progress;
  if (resume) {
    if (auto p = load_checkpoint(out, *model, optimizer)) {
      progress = *p;
      log::info("resuming ", out.string(), " at step ", progress.step);
    } else {
      log::info("no checkpoint in ", out.string(), "; starting from scratch");
    }
  }
  const std::int64_t steps = c["steps"], batch = c["batch_size"], every = c["checkpoint_every"];
  const std::uint64_t world_seed = c["world_seed"];
  const std::size_t history_start = progress.history.size();
  diffedit::Progress bar("train toy-classifier", steps - progress.step);
  model->train();
  for (std::int64_t step = progress.step; step < steps; ++step) {
    // Batch `step` is items [step * batch, (step + 1) * batch) of the train split: a resumed run
    // sees exactly the data an uninterrupted one would.
    std::vector<at::Tensor> images;
    std::vector<std::int64_t> labels;
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto item = data::toyworld::generate("train", step * batch + b, world_seed);
      images.push_back(item.image);
      labels.push_back(item.label);
    }
    const at::Tensor x = at::stack(images), y = at::tensor(labels, at::kLong);
    // Learning rate: linear warm-up, then cosine decay to 0 (a function of the step, so resuming
    // needs no extra state).
    set_lr(optimizer, warmup_cosine_lr(c["lr"].get<double>(), c["warmup"].get<std::int64_t>(), step, steps));
    optimizer.zero_grad();
    const at::Tensor loss = at::cross_entropy_loss(model->forward(x), y);
    loss.backward();
    optimizer.step();
    const double value = loss.item<double>();
    if (!std::isfinite(value)) throw NumericError("train", "loss became non-finite at step " + std::to_string(step));
    progress.step = step + 1;
    progress.history.push_back({{"step", step}, {"loss", value}});
    bar.set_status("loss " + format_loss(progress.history));
    bar.advance();
    if (progress.step % every == 0 || progress.step == steps) save_checkpoint(out, *model, optimizer, progress, c);
  }
  bar.finish();

  // The shipped layout: config.json + model.safetensors.
  safetensors::TensorMap weights;
  for (const auto& p : model->named_parameters(true)) weights[p.key()] = p.value().detach();
  safetensors::write(out / "model.safetensors", weights, {{"format", "pt"}, {"producer", "diffedit train"}});
  fs::write_atomic(out / "config.json", Json{{"_class_name", "ToyClassifier"}, {"num_classes", mc.num_classes}, {"width", mc.width}}.dump(2));
  return summarise(progress.history, history_start, progress.step);
}

}  // namespace diffedit::training
