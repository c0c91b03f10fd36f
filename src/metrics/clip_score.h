// CLIPScore from CLIP image and text embeddings, in both conventions researchers report, and the
// directional CLIP similarity of an edit:
//   Hessel et al. 2021 (CLIP-S):  w * max(cos(image, text), 0), w = 2.5, averaged over pairs
//                                 (their captions are prefixed with "A photo depicts ").
//   torchmetrics CLIPScore:       100 * cos per pair; the score is max(mean, 0) (clamped after
//                                 averaging, not per pair).
//   directional similarity:       cos(image1 - image0, text1 - text0) on L2-normalised embeddings.
#pragma once

#include <ATen/core/Tensor.h>

namespace diffedit::metrics {

// Row-wise cosine of paired embeddings [B, P] -> [B] (each side L2-normalised, then summed).
at::Tensor paired_cosine(const at::Tensor& image_embeds, const at::Tensor& text_embeds);
// All pairs [B1, P] x [B2, P] -> [B1, B2].
at::Tensor cosine_matrix(const at::Tensor& image_embeds, const at::Tensor& text_embeds);

at::Tensor hessel_clip_s_per_sample(const at::Tensor& image_embeds, const at::Tensor& text_embeds, double w = 2.5);
double hessel_clip_s(const at::Tensor& image_embeds, const at::Tensor& text_embeds, double w = 2.5);
at::Tensor torchmetrics_clip_score_per_sample(const at::Tensor& image_embeds, const at::Tensor& text_embeds);
double torchmetrics_clip_score(const at::Tensor& image_embeds, const at::Tensor& text_embeds);

// [B] for image0/image1/text0/text1 [B, P].
at::Tensor directional_similarity(const at::Tensor& image0, const at::Tensor& image1, const at::Tensor& text0, const at::Tensor& text1);

}  // namespace diffedit::metrics
