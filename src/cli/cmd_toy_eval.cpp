// `diffedit toy-eval --out FILE.json`: the toy world's quality measures on the test split. This
// first version measures the classifier; the keys that need the toy diffusion model and the toy
// CLIP are written as null until those models exist (issue 6).
#include <ATen/ATen.h>

#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/version.h"
#include "data/toyworld.h"
#include "models/toy_classifier.h"

namespace diffedit::cli {

namespace {
struct ToyEvalArgs {
  std::string out, models = "models";
  std::int64_t count = 1000;
  std::uint64_t seed = 0;
};

int run_toy_eval(const ToyEvalArgs& a) {
  if (a.count < 1) throw InputError("--count", "must be positive");
  namespace tw = data::toyworld;
  auto classifier = models::load_toy_classifier(std::filesystem::path(a.models) / "toy-classifier");
  torch::NoGradGuard no_grad;
  std::int64_t correct = 0;
  for (std::int64_t start = 0; start < a.count; start += 100) {
    std::vector<at::Tensor> images;
    std::vector<std::int64_t> labels;
    for (std::int64_t i = start; i < std::min(a.count, start + 100); ++i) {
      const auto item = tw::generate("test", i, a.seed);
      images.push_back(item.image);
      labels.push_back(item.label);
    }
    const at::Tensor predicted = classifier->forward(at::stack(images)).argmax(1);
    correct += (predicted == at::tensor(labels, at::kLong)).sum().item<std::int64_t>();
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(a.count);
  const config::Json result = {
      {"classifier_accuracy", accuracy},
      {"clip_top1_of_100", nullptr},
      {"t2i_class_agreement", nullptr},
      {"diffedit_mask_iou_median", nullptr},
      {"diffedit_edit_success", nullptr},
      {"diffedit_unedited_psnr_db", nullptr},
      {"diffedit_dominates_sdedit", nullptr},
      {"pending", "keys set to null need the toy diffusion model and toy CLIP, which are not trained yet"},
      {"test_items", a.count},
      {"world_seed", a.seed},
      {"git_revision", std::string(git_revision())}};
  std::cout << std::left << std::setw(30) << "key" << "value\n";
  for (const auto& [key, value] : result.items()) std::cout << std::setw(30) << key << value.dump() << "\n";
  if (!a.out.empty()) fs::write_atomic(a.out, result.dump(2) + "\n");
  return 0;
}
}  // namespace

Command add_toy_eval(CLI::App& app) {
  auto a = std::make_shared<ToyEvalArgs>();
  CLI::App* sub = app.add_subcommand("toy-eval", "Measure the toy models' quality on the toy world's test split");
  sub->add_option("--out", a->out, "Write the results as JSON");
  sub->add_option("--models", a->models, "Directory holding toy-classifier/, toy-sd/, toy-clip/")->capture_default_str();
  sub->add_option("--count", a->count, "Test items")->capture_default_str();
  sub->add_option("--seed", a->seed, "World seed")->capture_default_str();
  return {sub, [a] { return run_toy_eval(*a); }};
}

}  // namespace diffedit::cli
