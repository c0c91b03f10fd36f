#include "training/loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "core/errors.h"
#include "core/log.h"
#include "data/toyworld_presets.h"

namespace diffedit::training {

double warmup_cosine_lr(double base, std::int64_t warmup, std::int64_t step, std::int64_t steps) {
  const double t = static_cast<double>(step), w = static_cast<double>(warmup);
  if (t < w) return base * (t + 1) / w;
  return base * 0.5 * (1 + std::cos(std::numbers::pi * (t - w) / std::max(1.0, static_cast<double>(steps) - w)));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay, std::int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
  const auto source = model.named_parameters(true);
  for (auto& p : ema.named_parameters(true)) {
    const at::Tensor& s = source[p.key()];
    // A frozen parameter's average is itself; updating it anyway would only add rounding error.
    if (s.requires_grad()) p.value().mul_(d).add_(s.detach(), 1 - d);
  }
}

config::Schema training_schema(const std::string& model, const CommonDefaults& d, std::vector<config::Schema::Field> extra) {
  using config::Schema;
  std::vector<Schema::Field> fields = {
      {"model", Schema::string().choices({model}).required()},
      {"steps", Schema::integer().range(1, std::nullopt).def(d.steps)},
      {"batch_size", Schema::integer().range(2, 4096).def(d.batch_size)},
      {"lr", Schema::number().range(0, 1).def(d.lr)},
      {"warmup", Schema::integer().range(0, std::nullopt).def(d.warmup).doc("linear warm-up steps, then cosine decay to 0")},
      {"weight_decay", Schema::number().range(0, 1).def(d.weight_decay)},
      {"seed", Schema::integer().range(0, std::nullopt).def(0)},
      {"world", data::toyworld::world_schema(data::toyworld::kDefaultPreset)},
      {"world_seed", Schema::integer().range(0, std::nullopt).def(0)},
      {"checkpoint_every", Schema::integer().range(1, std::nullopt).def(250).doc("steps between checkpoints")},
  };
  for (auto& f : extra) fields.push_back(std::move(f));
  return Schema::object(std::move(fields));
}

TrainingProgress start_or_resume(const std::filesystem::path& out, torch::nn::Module& state, torch::optim::Optimizer& optimizer,
                                 bool resume) {
  if (resume) {
    if (auto p = load_checkpoint(out, state, optimizer)) {
      log::info("resuming ", out.string(), " at step ", p->step);
      return *p;
    }
    log::info("no checkpoint in ", out.string(), "; starting from scratch");
  }
  return {};
}

void end_step(double loss, std::int64_t step, TrainingProgress& progress, diffedit::Progress& bar, const std::filesystem::path& out,
              torch::nn::Module& state, torch::optim::Optimizer& optimizer, const config::Json& config) {
  if (!std::isfinite(loss)) throw NumericError("train", "loss became non-finite at step " + std::to_string(step));
  progress.step = step + 1;
  progress.history.push_back({{"step", step}, {"loss", loss}});
  bar.set_status("loss " + format_loss(progress.history));
  bar.advance();
  if (progress.step % config["checkpoint_every"].get<std::int64_t>() == 0 || progress.step == config["steps"].get<std::int64_t>())
    save_checkpoint(out, state, optimizer, progress, config);
}

double mean_loss(const config::Json& history, std::size_t from, std::size_t to) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t i = from; i < to && i < history.size(); ++i, ++n) sum += history[i]["loss"].get<double>();
  return n ? sum / static_cast<double>(n) : 0.0;
}

std::string format_loss(const config::Json& history) {
  const std::size_t n = history.size();
  char text[32];
  std::snprintf(text, sizeof text, "%.5g", mean_loss(history, n > 20 ? n - 20 : 0, n));
  return text;
}

config::Json loss_curve(const config::Json& history, std::size_t window) {
  config::Json curve = config::Json::array();
  for (std::size_t i = 0; i < history.size(); i += window) curve.push_back({{"step", i}, {"loss", mean_loss(history, i, i + window)}});
  return curve;
}

std::filesystem::path config_path(const config::Json& config, const std::string& key, const std::filesystem::path& base) {
  const std::filesystem::path p = config.at(key).get<std::string>();
  return p.is_relative() ? base / p : p;
}

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (const char* f : {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"})
    if (std::filesystem::exists(from / f)) std::filesystem::copy_file(from / f, to / f, std::filesystem::copy_options::overwrite_existing);
}

void move_to_device(torch::nn::Module& state, torch::optim::Optimizer& optimizer, c10::Device device) {
  state.to(device);
  const auto move = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  for (auto& entry : optimizer.state()) {
    auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(entry.second.get());
    if (!adamw) throw std::logic_error("move_to_device: the trainers use AdamW");
    adamw->exp_avg(move(adamw->exp_avg()));
    adamw->exp_avg_sq(move(adamw->exp_avg_sq()));
    adamw->max_exp_avg_sq(move(adamw->max_exp_avg_sq()));
  }
}

TrainSummary summarize(const config::Json& history, std::size_t from, std::int64_t steps) {
  TrainSummary s;
  s.steps = steps;
  const std::size_t n = history.size();
  s.first_loss = mean_loss(history, from, std::min(n, from + 10));
  s.last_loss = mean_loss(history, n >= 10 ? n - 10 : 0, n);
  return s;
}

}  // namespace diffedit::training
