#include "models/inception_fid.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "core/safetensors.h"
#include "models/state_dict.h"

namespace diffedit::models {

namespace nn = torch::nn;

at::Tensor InceptionFidImpl::Conv::operator()(const at::Tensor& x) const {
  return at::relu(const_cast<nn::BatchNorm2dImpl&>(*bn).forward(const_cast<nn::Conv2dImpl&>(*conv).forward(x)));
}

const InceptionFidImpl::Conv& InceptionFidImpl::Mixed::at(const std::string& name) const {
  for (const auto& [n, c] : convs)
    if (n == name) return c;
  throw Error("inception", "no branch " + name);
}

InceptionFidImpl::Conv InceptionFidImpl::conv(nn::Module& parent, const std::string& name, std::int64_t in, std::int64_t out,
                                              std::vector<std::int64_t> kernel, std::vector<std::int64_t> stride,
                                              std::vector<std::int64_t> padding) {
  auto m = parent.register_module(name, std::make_shared<nn::Module>());
  Conv c;
  c.conv = m->register_module(
      "conv",
      nn::Conv2d(
          nn::Conv2dOptions(in, out, {kernel[0], kernel[1]}).stride({stride[0], stride[1]}).padding({padding[0], padding[1]}).bias(false)));
  c.bn = m->register_module("bn", nn::BatchNorm2d(nn::BatchNormOptions(out).eps(0.001)));
  return c;
}

InceptionFidImpl::Mixed InceptionFidImpl::mixed(const std::string& name, char kind, std::int64_t in, std::int64_t p) {
  auto m = register_module(name, std::make_shared<nn::Module>());
  Mixed x{kind, {}};
  auto add = [&](const std::string& n, std::int64_t i, std::int64_t o, std::vector<std::int64_t> k, std::vector<std::int64_t> s = {1, 1},
                 std::vector<std::int64_t> pad = {0, 0}) { x.convs.emplace_back(n, conv(*m, n, i, o, k, s, pad)); };
  switch (kind) {
    case 'A':
      add("branch1x1", in, 64, {1, 1});
      add("branch5x5_1", in, 48, {1, 1}), add("branch5x5_2", 48, 64, {5, 5}, {1, 1}, {2, 2});
      add("branch3x3dbl_1", in, 64, {1, 1}), add("branch3x3dbl_2", 64, 96, {3, 3}, {1, 1}, {1, 1});
      add("branch3x3dbl_3", 96, 96, {3, 3}, {1, 1}, {1, 1});
      add("branch_pool", in, p, {1, 1});
      break;
    case 'B':
      add("branch3x3", in, 384, {3, 3}, {2, 2});
      add("branch3x3dbl_1", in, 64, {1, 1}), add("branch3x3dbl_2", 64, 96, {3, 3}, {1, 1}, {1, 1});
      add("branch3x3dbl_3", 96, 96, {3, 3}, {2, 2});
      break;
    case 'C':
      add("branch1x1", in, 192, {1, 1});
      add("branch7x7_1", in, p, {1, 1}), add("branch7x7_2", p, p, {1, 7}, {1, 1}, {0, 3});
      add("branch7x7_3", p, 192, {7, 1}, {1, 1}, {3, 0});
      add("branch7x7dbl_1", in, p, {1, 1}), add("branch7x7dbl_2", p, p, {7, 1}, {1, 1}, {3, 0});
      add("branch7x7dbl_3", p, p, {1, 7}, {1, 1}, {0, 3}), add("branch7x7dbl_4", p, p, {7, 1}, {1, 1}, {3, 0});
      add("branch7x7dbl_5", p, 192, {1, 7}, {1, 1}, {0, 3});
      add("branch_pool", in, 192, {1, 1});
      break;
    case 'D':
      add("branch3x3_1", in, 192, {1, 1}), add("branch3x3_2", 192, 320, {3, 3}, {2, 2});
      add("branch7x7x3_1", in, 192, {1, 1}), add("branch7x7x3_2", 192, 192, {1, 7}, {1, 1}, {0, 3});
      add("branch7x7x3_3", 192, 192, {7, 1}, {1, 1}, {3, 0}), add("branch7x7x3_4", 192, 192, {3, 3}, {2, 2});
      break;
    default:  // 'E' / 'F'
      add("branch1x1", in, 320, {1, 1});
      add("branch3x3_1", in, 384, {1, 1}), add("branch3x3_2a", 384, 384, {1, 3}, {1, 1}, {0, 1});
      add("branch3x3_2b", 384, 384, {3, 1}, {1, 1}, {1, 0});
      add("branch3x3dbl_1", in, 448, {1, 1}), add("branch3x3dbl_2", 448, 384, {3, 3}, {1, 1}, {1, 1});
      add("branch3x3dbl_3a", 384, 384, {1, 3}, {1, 1}, {0, 1}), add("branch3x3dbl_3b", 384, 384, {3, 1}, {1, 1}, {1, 0});
      add("branch_pool", in, 192, {1, 1});
  }
  return x;
}

InceptionFidImpl::InceptionFidImpl() {
  stem_.push_back(conv(*this, "Conv2d_1a_3x3", 3, 32, {3, 3}, {2, 2}));
  stem_.push_back(conv(*this, "Conv2d_2a_3x3", 32, 32, {3, 3}));
  stem_.push_back(conv(*this, "Conv2d_2b_3x3", 32, 64, {3, 3}, {1, 1}, {1, 1}));
  stem_.push_back(conv(*this, "Conv2d_3b_1x1", 64, 80, {1, 1}));
  stem_.push_back(conv(*this, "Conv2d_4a_3x3", 80, 192, {3, 3}));
  mixed_.push_back(mixed("Mixed_5b", 'A', 192, 32));
  mixed_.push_back(mixed("Mixed_5c", 'A', 256, 64));
  mixed_.push_back(mixed("Mixed_5d", 'A', 288, 64));
  mixed_.push_back(mixed("Mixed_6a", 'B', 288));
  mixed_.push_back(mixed("Mixed_6b", 'C', 768, 128));
  mixed_.push_back(mixed("Mixed_6c", 'C', 768, 160));
  mixed_.push_back(mixed("Mixed_6d", 'C', 768, 160));
  mixed_.push_back(mixed("Mixed_6e", 'C', 768, 192));
  mixed_.push_back(mixed("Mixed_7a", 'D', 768));
  mixed_.push_back(mixed("Mixed_7b", 'E', 1280));
  mixed_.push_back(mixed("Mixed_7c", 'F', 2048));
}

at::Tensor InceptionFidImpl::run(const Mixed& m, const at::Tensor& x) const {
  // FID variant: average pools exclude padding from the count.
  auto avg = [](const at::Tensor& t) { return at::avg_pool2d(t, {3, 3}, {1, 1}, {1, 1}, false, /*count_include_pad=*/false); };
  switch (m.kind) {
    case 'A':
      return at::cat({m.at("branch1x1")(x), m.at("branch5x5_2")(m.at("branch5x5_1")(x)),
                      m.at("branch3x3dbl_3")(m.at("branch3x3dbl_2")(m.at("branch3x3dbl_1")(x))), m.at("branch_pool")(avg(x))},
                     1);
    case 'B':
      return at::cat({m.at("branch3x3")(x), m.at("branch3x3dbl_3")(m.at("branch3x3dbl_2")(m.at("branch3x3dbl_1")(x))),
                      at::max_pool2d(x, {3, 3}, {2, 2})},
                     1);
    case 'C': {
      const at::Tensor b7 = m.at("branch7x7_3")(m.at("branch7x7_2")(m.at("branch7x7_1")(x)));
      at::Tensor d = m.at("branch7x7dbl_1")(x);
      for (const char* n : {"branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"}) d = m.at(n)(d);
      return at::cat({m.at("branch1x1")(x), b7, d, m.at("branch_pool")(avg(x))}, 1);
    }
    case 'D': {
      at::Tensor b7 = m.at("branch7x7x3_1")(x);
      for (const char* n : {"branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"}) b7 = m.at(n)(b7);
      return at::cat({m.at("branch3x3_2")(m.at("branch3x3_1")(x)), b7, at::max_pool2d(x, {3, 3}, {2, 2})}, 1);
    }
    default: {
      const at::Tensor b3 = m.at("branch3x3_1")(x);
      const at::Tensor d = m.at("branch3x3dbl_2")(m.at("branch3x3dbl_1")(x));
      // Mixed_7b (E_1) average-pools without counting padding; Mixed_7c (E_2) max-pools.
      const at::Tensor pooled = m.kind == 'E' ? avg(x) : at::max_pool2d(x, {3, 3}, {1, 1}, {1, 1});
      return at::cat({m.at("branch1x1")(x), at::cat({m.at("branch3x3_2a")(b3), m.at("branch3x3_2b")(b3)}, 1),
                      at::cat({m.at("branch3x3dbl_3a")(d), m.at("branch3x3dbl_3b")(d)}, 1), m.at("branch_pool")(pooled)},
                     1);
    }
  }
}

at::Tensor InceptionFidImpl::preprocess(const at::Tensor& images) {
  return 2 * at::upsample_bilinear2d(images.to(at::kFloat), {299, 299}, false) - 1;
}

at::Tensor InceptionFidImpl::forward(const at::Tensor& images, std::vector<at::Tensor>* blocks) {
  if (images.dim() != 4 || images.size(1) != 3) throw InputError("inception", "expected [B, 3, H, W] images in [0, 1]");
  at::Tensor x = preprocess(images);
  x = at::max_pool2d(stem_[2](stem_[1](stem_[0](x))), {3, 3}, {2, 2});
  if (blocks) blocks->push_back(x);
  x = at::max_pool2d(stem_[4](stem_[3](x)), {3, 3}, {2, 2});
  if (blocks) blocks->push_back(x);
  for (std::size_t i = 0; i < 8; ++i) x = run(mixed_[i], x);
  if (blocks) blocks->push_back(x);
  for (std::size_t i = 8; i < mixed_.size(); ++i) x = run(mixed_[i], x);
  x = at::adaptive_avg_pool2d(x, {1, 1});
  if (blocks) blocks->push_back(x);
  return x.flatten(1);
}

InceptionFid load_inception_fid(const std::filesystem::path& weights) {
  InceptionFid model;
  // fc (the 1008-way classifier) is not used; BatchNorm's num_batches_tracked may be absent.
  load_state_dict(*model, safetensors::File::open(weights), "", {"fc.*"}, {"*num_batches_tracked"});
  model->eval();
  return model;
}

}  // namespace diffedit::models
