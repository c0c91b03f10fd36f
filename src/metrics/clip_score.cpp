#include "metrics/clip_score.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/errors.h"

namespace diffedit::metrics {

namespace {
at::Tensor unit(const at::Tensor& x) { return x / x.norm(2, {-1}, true); }
void check(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1)) throw InputError("clip score", "embeddings must be [B, P] with the same P");
}
}  // namespace

at::Tensor paired_cosine(const at::Tensor& image_embeds, const at::Tensor& text_embeds) {
  check(image_embeds, text_embeds);
  if (image_embeds.size(0) != text_embeds.size(0)) throw InputError("clip score", "one text per image is needed");
  return (unit(image_embeds) * unit(text_embeds)).sum(-1);
}

at::Tensor cosine_matrix(const at::Tensor& image_embeds, const at::Tensor& text_embeds) {
  check(image_embeds, text_embeds);
  return at::matmul(unit(image_embeds), unit(text_embeds).t());
}

at::Tensor hessel_clip_s_per_sample(const at::Tensor& image_embeds, const at::Tensor& text_embeds, double w) {
  return w * paired_cosine(image_embeds, text_embeds).clamp_min(0);
}

double hessel_clip_s(const at::Tensor& image_embeds, const at::Tensor& text_embeds, double w) {
  return hessel_clip_s_per_sample(image_embeds, text_embeds, w).mean().item<double>();
}

at::Tensor torchmetrics_clip_score_per_sample(const at::Tensor& image_embeds, const at::Tensor& text_embeds) {
  return 100 * paired_cosine(image_embeds, text_embeds);
}

double torchmetrics_clip_score(const at::Tensor& image_embeds, const at::Tensor& text_embeds) {
  return std::max(0.0, torchmetrics_clip_score_per_sample(image_embeds, text_embeds).mean().item<double>());
}

at::Tensor directional_similarity(const at::Tensor& image0, const at::Tensor& image1, const at::Tensor& text0, const at::Tensor& text1) {
  const at::Tensor di = unit(image1) - unit(image0), dt = unit(text1) - unit(text0);
  return (di * dt).sum(-1) / (di.norm(2, {-1}) * dt.norm(2, {-1})).clamp_min(1e-8);
}

}  // namespace diffedit::metrics
