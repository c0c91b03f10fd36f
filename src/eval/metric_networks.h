// The networks an experiment's metrics read (LPIPS, CLIP, the classifier, the set metrics' feature
// network), loaded once per run: only those a wanted metric of the registry needs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/config.h"
#include "eval/experiment.h"
#include "eval/features.h"
#include "metrics/perceptual.h"
#include "models/dino_vit.h"
#include "models/toy_classifier.h"

namespace diffedit::data {
struct EditSample;
}
namespace diffedit::editing {
struct EditResult;
}
namespace diffedit::pipelines {
class ClipModel;
}

namespace diffedit::eval {

struct MetricNetworks {
  // The networks run on `device` (the run's); images and values stay on the CPU around them.
  explicit MetricNetworks(const MetricsSpec& spec, const at::Device& device = at::kCPU);

  // The per-image metrics of one edit (edited: [1, 3, H, W] in [0, 1] on the CPU), in the order the
  // config lists them. NumericError when a value is not finite.
  config::Json measure(const data::EditSample& sample, const editing::EditResult& result, const at::Tensor& edited);

  // `images` on the networks' device.
  at::Tensor on_device(const at::Tensor& images) const { return images.to(device); }

  const MetricsSpec& spec;
  at::Device device;
  std::vector<std::int64_t> benchmark_classes;  // flexit_accuracy: the dataset's target classes, sorted
  models::ToyClassifier classifier{nullptr};
  std::shared_ptr<pipelines::ClipModel> clip;
  std::optional<metrics::PerceptualDistance> lpips;
  std::optional<FeatureNet> features;  // set metrics: the features every record stores
  models::DinoVit dino{nullptr};       // PIE-Bench's structure distance
};

}  // namespace diffedit::eval
