#include "metrics/structure_distance.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "image/resize.h"

namespace diffedit::metrics {

namespace {
constexpr std::int64_t kSize = 224, kMaxSize = 480;  // the reference's Resize(224, max_size=480)

void check_image(const at::Tensor& image, const char* what) {
  if (image.dim() != 3 || image.size(0) != 3 || image.size(1) < 1 || image.size(2) < 1)
    throw InputError("structure distance", std::string(what) + ": expected an image [3, H, W]");
}
}  // namespace

std::pair<std::int64_t, std::int64_t> resize_short_side_size(std::int64_t h, std::int64_t w, std::int64_t size, std::int64_t max_size) {
  if (size < 1 || max_size <= size) throw InputError("resize", "max_size must be larger than the requested size");
  const std::int64_t shorter = std::min(h, w), longer = std::max(h, w);
  std::int64_t new_short = size;
  auto new_long = static_cast<std::int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));
  if (new_long > max_size) {
    new_short = static_cast<std::int64_t>(static_cast<double>(max_size * new_short) / static_cast<double>(new_long));
    new_long = max_size;
  }
  return w <= h ? std::pair{new_long, new_short} : std::pair{new_short, new_long};
}

at::Tensor dino_structure_input(const at::Tensor& image_chw_0_255) {
  check_image(image_chw_0_255, "image");
  // The reference's tensor is a transposed HWC numpy array: channels-last strides, which pick
  // libtorch's channels-last bilinear kernel (its float32 results differ from the NCHW kernel's in
  // the last bit).
  const at::Tensor x = image_chw_0_255.to(at::kFloat).permute({1, 2, 0}).contiguous().permute({2, 0, 1}).unsqueeze(0);
  const auto [h, w] = resize_short_side_size(x.size(2), x.size(3), kSize, kMaxSize);
  const at::Tensor resized = (h == x.size(2) && w == x.size(3)) ? x : image::torch_resize(x, h, w, image::Filter::bilinear, false);
  // Normalize on 0..255 values (reference quirk, kept): float32 mean and std, subtract then divide.
  const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1}).to(x.device());
  const at::Tensor std = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1}).to(x.device());
  return ((resized - mean) / std).squeeze(0);
}

at::Tensor dino_keys(models::DinoVit& dino, const at::Tensor& input, std::int64_t block) {
  if (input.dim() != 3) throw InputError("structure distance", "expected one DINO input [3, h, w]");
  torch::NoGradGuard no_grad;
  const at::Tensor qkv = dino->qkv_output(input.unsqueeze(0), block);  // [1, T, 3E]
  const std::int64_t e = dino->config().embed_dim;
  // The reference splits heads ([heads, T, d]) and joins them back: exactly this slice.
  return qkv[0].slice(1, e, 2 * e);
}

at::Tensor key_self_similarity(const at::Tensor& keys) {
  const at::Tensor x = keys.unsqueeze(0);  // [1, T, E]
  const at::Tensor norm = x.norm(2, {2}, true);
  const at::Tensor factor = at::matmul(norm, norm.permute({0, 2, 1})).clamp_min(1e-8);
  return at::matmul(x, x.permute({0, 2, 1})) / factor;
}

double structure_distance(models::DinoVit& dino, const at::Tensor& src_chw_0_255, const at::Tensor& tgt_chw_0_255) {
  check_image(src_chw_0_255, "source");
  check_image(tgt_chw_0_255, "target");
  if (src_chw_0_255.sizes() != tgt_chw_0_255.sizes()) throw InputError("structure distance", "the two images differ in size");
  if (dino->config().depth <= kStructureDistanceBlock)
    throw InputError("structure distance", "the DINO model needs at least " + std::to_string(kStructureDistanceBlock + 1) + " blocks");
  const at::Tensor s_src = key_self_similarity(dino_keys(dino, dino_structure_input(src_chw_0_255)));
  const at::Tensor s_tgt = key_self_similarity(dino_keys(dino, dino_structure_input(tgt_chw_0_255)));
  return at::mse_loss(s_tgt, s_src).item<float>();  // the reference returns this float32 value
}

}  // namespace diffedit::metrics
