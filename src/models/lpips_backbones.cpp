#include "models/lpips_backbones.h"

#include "core/errors.h"

namespace diffedit::models {

namespace nn = torch::nn;

LpipsBackboneImpl::LpipsBackboneImpl(const std::string& name) : name_(name) {
  auto features = register_module("features", std::make_shared<nn::Module>());
  auto add_conv = [&](std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t s, std::int64_t p) {
    Layer l{Layer::conv};
    l.conv_ = features->register_module(std::to_string(layers_.size()), nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(s).padding(p)));
    layers_.push_back(l);
  };
  auto add_relu = [&] { layers_.push_back(Layer{Layer::relu}); };
  auto add_pool = [&](std::int64_t k, std::int64_t s, bool ceil) {
    Layer l{Layer::maxpool};
    l.kernel = k;
    l.stride = s;
    l.ceil = ceil;
    layers_.push_back(l);
  };
  auto add_fire = [&](std::int64_t in, std::int64_t sq, std::int64_t e1, std::int64_t e3) {
    Layer l{Layer::fire};
    auto fire = features->register_module(std::to_string(layers_.size()), std::make_shared<nn::Module>());
    l.squeeze = fire->register_module("squeeze", nn::Conv2d(nn::Conv2dOptions(in, sq, 1)));
    l.expand1x1 = fire->register_module("expand1x1", nn::Conv2d(nn::Conv2dOptions(sq, e1, 1)));
    l.expand3x3 = fire->register_module("expand3x3", nn::Conv2d(nn::Conv2dOptions(sq, e3, 3).padding(1)));
    layers_.push_back(l);
  };
  if (name == "alex") {
    add_conv(3, 64, 11, 4, 2), add_relu(), add_pool(3, 2, false), add_conv(64, 192, 5, 1, 2), add_relu(), add_pool(3, 2, false);
    add_conv(192, 384, 3, 1, 1), add_relu(), add_conv(384, 256, 3, 1, 1), add_relu(), add_conv(256, 256, 3, 1, 1), add_relu();
    taps_ = {1, 4, 7, 9, 11};
    channels_ = {64, 192, 384, 256, 256};
  } else if (name == "vgg") {
    const std::vector<std::vector<std::int64_t>> stages = {
        {3, 64, 64}, {64, 128, 128}, {128, 256, 256, 256}, {256, 512, 512, 512}, {512, 512, 512, 512}};
    for (std::size_t s = 0; s < stages.size(); ++s) {
      if (s > 0) add_pool(2, 2, false);
      for (std::size_t i = 1; i < stages[s].size(); ++i) add_conv(stages[s][i - 1], stages[s][i], 3, 1, 1), add_relu();
      taps_.push_back(layers_.size() - 1);
      channels_.push_back(stages[s].back());
    }
  } else if (name == "squeeze") {
    add_conv(3, 64, 3, 2, 0), add_relu(), add_pool(3, 2, true), add_fire(64, 16, 64, 64), add_fire(128, 16, 64, 64);
    add_pool(3, 2, true), add_fire(128, 32, 128, 128), add_fire(256, 32, 128, 128), add_pool(3, 2, true);
    add_fire(256, 48, 192, 192), add_fire(384, 48, 192, 192), add_fire(384, 64, 256, 256), add_fire(512, 64, 256, 256);
    taps_ = {1, 4, 7, 9, 10, 11, 12};
    channels_ = {64, 128, 256, 384, 384, 512, 512};
  } else {
    throw InputError("lpips", "unknown backbone '" + name + "' (alex, vgg, squeeze)");
  }
}

std::vector<at::Tensor> LpipsBackboneImpl::forward(const at::Tensor& input) {
  std::vector<at::Tensor> taps;
  at::Tensor x = input;
  std::size_t next = 0;
  for (std::size_t i = 0; i < layers_.size() && next < taps_.size(); ++i) {
    Layer& l = layers_[i];
    switch (l.kind) {
      case Layer::conv: x = l.conv_->forward(x); break;
      case Layer::relu: x = at::relu(x); break;
      case Layer::maxpool: x = at::max_pool2d(x, {l.kernel, l.kernel}, {l.stride, l.stride}, {0, 0}, {1, 1}, l.ceil); break;
      case Layer::fire: {
        const at::Tensor s = at::relu(l.squeeze->forward(x));
        x = at::cat({at::relu(l.expand1x1->forward(s)), at::relu(l.expand3x3->forward(s))}, 1);
        break;
      }
    }
    if (i == taps_[next]) {
      taps.push_back(x);
      ++next;
    }
  }
  return taps;
}

}  // namespace diffedit::models
