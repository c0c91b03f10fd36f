#include "metrics/lpips.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "metrics/region.h"
#include "models/state_dict.h"

namespace diffedit::metrics {

namespace nn = torch::nn;

namespace {
// Spatial average of each layer term (or bilinear upsampling to h x w), then the sum over layers.
LpipsOutput combine_layers(const std::vector<at::Tensor>& terms, bool spatial, std::int64_t h, std::int64_t w) {
  LpipsOutput out;
  for (const auto& t : terms) {
    out.layers.push_back(spatial ? at::upsample_bilinear2d(t, {h, w}, false) : t.mean({2, 3}, true));
    out.distance = out.distance.defined() ? out.distance + out.layers.back() : out.layers.back();
  }
  return out;
}
}  // namespace

at::Tensor unit_normalize(const at::Tensor& f) { return f / (f.pow(2).sum(1, true).sqrt() + 1e-10); }

LpipsOutput lpips_unweighted(const std::vector<at::Tensor>& f0, const std::vector<at::Tensor>& f1, bool spatial, std::int64_t h,
                             std::int64_t w) {
  if (f0.size() != f1.size() || f0.empty()) throw InputError("lpips", "needs the same non-empty list of layers for both images");
  std::vector<at::Tensor> terms;
  for (std::size_t k = 0; k < f0.size(); ++k) terms.push_back((unit_normalize(f0[k]) - unit_normalize(f1[k])).pow(2).sum(1, true));
  return combine_layers(terms, spatial, h, w);
}

LpipsImpl::LpipsImpl(const std::string& backbone) {
  backbone_ = register_module("net", models::LpipsBackbone(backbone));
  // Parameter names as in lpips' v0.1 files: lin{k}.model.1.weight (model.0 is a dropout).
  for (std::size_t k = 0; k < backbone_->channels().size(); ++k) {
    auto lin = heads_.emplace_back(register_module("lin" + std::to_string(k), std::make_shared<nn::Module>()));
    auto model = lin->register_module("model", std::make_shared<nn::Module>());
    lins_.push_back(model->register_module("1", nn::Conv2d(nn::Conv2dOptions(backbone_->channels()[k], 1, 1).bias(false))));
  }
}

at::Tensor LpipsImpl::scaling_layer(const at::Tensor& x) {
  // (x - shift) / scale, float32 constants.
  const at::Tensor shift = at::tensor({-.030f, -.088f, -.188f}, x.options()).view({1, 3, 1, 1});
  const at::Tensor scale = at::tensor({.458f, .448f, .450f}, x.options()).view({1, 3, 1, 1});
  return (x - shift) / scale;
}

std::vector<at::Tensor> LpipsImpl::head_outputs(const at::Tensor& in0, const at::Tensor& in1) {
  const auto f0 = backbone_->forward(scaling_layer(in0)), f1 = backbone_->forward(scaling_layer(in1));
  std::vector<at::Tensor> out;
  for (std::size_t k = 0; k < f0.size(); ++k) out.push_back(lins_[k]->forward((unit_normalize(f0[k]) - unit_normalize(f1[k])).pow(2)));
  return out;
}

LpipsOutput LpipsImpl::forward(const at::Tensor& a, const at::Tensor& b, bool spatial, bool normalize) {
  if (a.sizes() != b.sizes() || a.dim() != 4 || a.size(1) != 3)
    throw InputError("lpips", "needs two [B, 3, H, W] batches of the same size");
  const at::Tensor in0 = normalize ? 2 * a - 1 : a, in1 = normalize ? 2 * b - 1 : b;
  return combine_layers(head_outputs(in0, in1), spatial, a.size(2), a.size(3));
}

void LpipsImpl::load(const safetensors::File& file) {
  // The module registers the backbone as "net"; files carry torchvision's "features.*" at the root.
  models::load_state_dict(*backbone_, file, "", {"lin*", "lins.*"});
  for (std::size_t k = 0; k < heads_.size(); ++k) models::load_state_dict(*heads_[k], file, "lin" + std::to_string(k) + ".");
}

Lpips load_lpips(const std::string& backbone, const std::filesystem::path& weights) {
  Lpips lpips(backbone);
  lpips->load(safetensors::File::open(weights));
  lpips->eval();
  return lpips;
}

double masked_lpips(Lpips& model, const at::Tensor& a01, const at::Tensor& b01, const at::Tensor& mask, bool inside) {
  torch::NoGradGuard no_grad;
  return masked_mean(model->forward(a01, b01, true, true).distance, mask, inside ? Region::inside : Region::outside);
}

}  // namespace diffedit::metrics
