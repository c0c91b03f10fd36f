// PIE-Bench's structure distance (Ju et al. 2024, evaluation/matrics_calculator.py; the "global
// self-similarity" loss of Splice, Tumanyan et al. 2022): the mean squared difference of the two
// images' DINO key self-similarity matrices. Keys are the middle third of the attn.qkv output of
// block 11 (of dino_vitb8), CLS token included; similarities are cosines with the norm product
// clamped at 1e-8.
//
// The preprocessing is the reference's, quirks kept: pixel values stay in 0..255 (not /255) and
// still go through ImageNet's normalisation, so tokens reach ~1e3; Resize(224, max_size=480) is
// bilinear without antialias (torchvision < 0.17 on tensors). Changing either changes the numbers.
// The masked variants (`*_edit_part`, `*_unedit_part`) multiply both images by the float mask
// before calling this.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

#include "models/dino_vit.h"

namespace diffedit::metrics {

// The block whose keys the reference reads (`layer_num=11`, hard-coded).
constexpr std::int64_t kStructureDistanceBlock = 11;

// torchvision Resize(size, max_size)'s output {height, width} for an h x w image: the short side
// becomes `size`, the long side int(size * long / short); past max_size the long side becomes
// max_size and the short side int(max_size * size / long).
std::pair<std::int64_t, std::int64_t> resize_short_side_size(std::int64_t h, std::int64_t w, std::int64_t size, std::int64_t max_size);

// float [3, H, W] with values 0..255 -> the DINO input [3, h, w]: Resize(224, max_size=480) (an
// image already at that size is kept), then (x - mean) / std with ImageNet's mean and std.
at::Tensor dino_structure_input(const at::Tensor& image_chw_0_255);

// The keys [T, E] of `input` [3, h, w] (a dino_structure_input) at block `block`: qkv[0, :, E:2E].
at::Tensor dino_keys(models::DinoVit& dino, const at::Tensor& input, std::int64_t block = kStructureDistanceBlock);

// The cosine self-similarity [1, T, T] of keys [T, E]: K K^T / clamp(|k_i| |k_j|, 1e-8).
at::Tensor key_self_similarity(const at::Tensor& keys);

// Both images float [3, H, W] in 0..255, of one size. Returns the float32 mean over T^2 of the
// squared self-similarity difference (widened to double).
double structure_distance(models::DinoVit& dino, const at::Tensor& src_chw_0_255, const at::Tensor& tgt_chw_0_255);

}  // namespace diffedit::metrics
