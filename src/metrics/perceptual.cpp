#include "metrics/perceptual.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace diffedit::metrics {

PerceptualDistance PerceptualDistance::load(const std::string& name, const std::filesystem::path& weights, const std::string& source) {
  PerceptualDistance d;
  d.name_ = name;
  if (name == "toy-classifier") {
    d.toy_ = models::load_toy_classifier(weights);
    d.toy_->eval();
  } else if (name.rfind("lpips-", 0) == 0) {
    d.lpips_ = load_lpips(name.substr(6), weights);
    d.lpips_->eval();
  } else {
    throw ConfigError(source, "must be lpips-alex|vgg|squeeze or toy-classifier, not '" + name + "'");
  }
  return d;
}

at::Tensor PerceptualDistance::operator()(const at::Tensor& a01, const at::Tensor& b01) {
  const at::Device device = toy_ ? toy_->parameters().front().device() : lpips_->parameters().front().device();
  const at::Tensor a = a01.to(device), b = b01.to(device);
  const at::Tensor d = toy_ ? lpips_unweighted(toy_->stages(a), toy_->stages(b)).distance : lpips_->forward(a, b, false, true).distance;
  return d.flatten();
}

void PerceptualDistance::to(const at::Device& device) {
  if (toy_) toy_->to(device);
  if (lpips_) lpips_->to(device);
}

}  // namespace diffedit::metrics
