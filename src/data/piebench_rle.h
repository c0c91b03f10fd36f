// PIE-Bench's run-length masks (PnP Inversion, evaluation/evaluate.py `mask_decode`): a flat list
// [start0, len0, start1, len1, ...] of runs on the row-major flat index (row * W + col) of an
// H x W mask, 1 = edited region. Not COCO's alternating counts.
//
// Decoding follows the reference exactly, quirks included: a run is clipped at the end of the
// image; runs may be unsorted and overlap (their union); starts >= H*W and lengths <= 0 set
// nothing; a negative start wraps like a Python index (start -3 sets the last three pixels, then
// continues at 0), and a start below -H*W is an error (the reference's IndexError). After the
// runs, mask_decode forces the 1-pixel frame (rows 0 and H-1, columns 0 and W-1) to 1: the
// reference's guard against annotation errors at the boundary, so the background never includes
// the frame.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace diffedit::data {

using Rle = std::vector<std::int64_t>;

// The reference's default mask size: PIE-Bench images are 512 x 512.
inline constexpr std::int64_t kPieBenchSize = 512;

// The runs alone: uint8 [H, W], 0/1. FormatError naming `source` for an odd-length list or a
// start below -H*W; InputError for H or W < 1.
at::Tensor mask_decode_raw(const Rle& rle, std::int64_t H = kPieBenchSize, std::int64_t W = kPieBenchSize,
                           const std::string& source = "mask");

// mask_decode_raw with the 1-pixel frame set to 1: the mask PIE-Bench's metrics use.
at::Tensor mask_decode(const Rle& rle, std::int64_t H = kPieBenchSize, std::int64_t W = kPieBenchSize, const std::string& source = "mask");

// Sets rows 0 and H-1 and columns 0 and W-1 of a [H, W] mask to 1 (in place; returns it).
at::Tensor force_border(at::Tensor mask);

// The canonical runs of a [H, W] mask (nonzero = 1): sorted, merged, non-empty. mask_decode_raw
// of the result gives the mask back.
Rle mask_encode(const at::Tensor& mask);

}  // namespace diffedit::data
