#include "models/toy_classifier.h"

#include <ATen/ATen.h>

#include "core/config.h"
#include "core/config_keys.h"
#include "core/safetensors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;

ToyClassifierImpl::ToyClassifierImpl(const ToyClassifierConfig& c) {
  // Three stages of (conv-GN-SiLU, strided conv-GN-SiLU): 32 -> 16 -> 8 -> 4 pixels.
  body_ = register_module("body", nn::Sequential());
  std::int64_t in = 3;
  for (std::int64_t width : {c.width, 2 * c.width, 4 * c.width}) {
    body_->push_back(nn::Conv2d(nn::Conv2dOptions(in, width, 3).padding(1)));
    body_->push_back(nn::GroupNorm(nn::GroupNormOptions(8, width)));
    body_->push_back(nn::SiLU());
    body_->push_back(nn::Conv2d(nn::Conv2dOptions(width, width, 3).padding(1).stride(2)));
    body_->push_back(nn::GroupNorm(nn::GroupNormOptions(8, width)));
    body_->push_back(nn::SiLU());
    in = width;
  }
  head_ = register_module("head", nn::Linear(4 * c.width, c.num_classes));
}

at::Tensor ToyClassifierImpl::features(const at::Tensor& images) { return body_->forward(images * 2 - 1).mean(at::IntArrayRef{2, 3}); }

std::vector<at::Tensor> ToyClassifierImpl::stages(const at::Tensor& images) {
  std::vector<at::Tensor> out;
  at::Tensor x = images * 2 - 1;
  std::size_t i = 0;
  for (auto& layer : *body_) {
    x = layer.forward(x);
    if (i++ % 6 == 5) out.push_back(x);  // six modules per stage
  }
  return out;
}

at::Tensor ToyClassifierImpl::forward(const at::Tensor& images) { return head_->forward(features(images)); }

namespace {

const auto& classifier_keys() {
  using C = ToyClassifierConfig;
  using config::Schema;
  static const auto table = std::tuple{config::key("num_classes", &C::num_classes, Schema::integer().range(1, std::nullopt).required()),
                                       config::key("width", &C::width, Schema::integer().range(8, 512).required())};
  return table;
}

}  // namespace

ToyClassifierConfig ToyClassifierConfig::from_json(const config::Json& json, const std::string& source) {
  static const config::Schema schema =
      config::object_schema(classifier_keys(), {{"_class_name", config::Schema::string().choices({"ToyClassifier"})}});
  return config::read_keys<ToyClassifierConfig>(schema.validate(json, source), classifier_keys(), source);
}

config::Json ToyClassifierConfig::to_json() const {
  config::Json j = config::write_keys(*this, classifier_keys());
  j["_class_name"] = "ToyClassifier";
  return j;
}

ToyClassifier load_toy_classifier(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  ToyClassifier model(ToyClassifierConfig::from_json(config::load_json(config_path), config_path.string()));
  load_state_dict(*model, safetensors::File::open(dir / "model.safetensors"));
  model->eval();
  return model;
}

}  // namespace diffedit::models
