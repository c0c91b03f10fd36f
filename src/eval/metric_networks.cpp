#include "eval/metric_networks.h"

#include <torch/nn.h>

#include <cmath>

#include "core/errors.h"
#include "data/toy_datasets.h"
#include "editing/method.h"
#include "eval/metric_registry.h"
#include "pipelines/clip_model.h"

namespace diffedit::eval {

using config::Json;

MetricNetworks::MetricNetworks(const MetricsSpec& m, const at::Device& d) : spec(m), device(d) {
  MetricNeeds needs;  // the union over the wanted metrics
  for (const auto& name : m.wanted()) {
    const auto& n = find_metric(name).needs;
    needs.lpips |= n.lpips;
    needs.clip |= n.clip;
    needs.classifier |= n.classifier;
    needs.feature_net |= n.feature_net;
    needs.dino |= n.dino;
  }
  if (needs.classifier) {
    classifier = models::load_toy_classifier(m.classifier);
    classifier->to(device);
  }
  if (needs.clip) {
    clip = std::make_shared<pipelines::ClipModel>(pipelines::ClipModel::load(m.clip_model));
    clip->to(device);
  }
  if (needs.lpips) {
    lpips = metrics::PerceptualDistance::load(m.lpips.name, m.lpips.weights, "metrics.lpips.name");
    lpips->to(device);
  }
  if (needs.feature_net) features = make_feature_net(m.feature_net.name, m.feature_net.weights, device);
  if (needs.dino) {
    dino = models::load_dino_vit(m.dino);
    dino->to(device);
  }
}

Json MetricNetworks::measure(const data::EditSample& sample, const editing::EditResult& result, const at::Tensor& edited) {
  torch::NoGradGuard no_grad;
  const at::Tensor input = sample.image.unsqueeze(0);
  ImageContext context{sample, result, edited, input, *this};
  Json m = Json::object();
  for (const auto& name : spec.per_image) find_metric(name).measure(context, m);
  for (const auto& [k, v] : m.items())
    if (!std::isfinite(v.get<double>())) throw NumericError(k, "the metric is not finite");
  return m;
}

}  // namespace diffedit::eval
