#include "data/piebench_rle.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/errors.h"

namespace diffedit::data {

at::Tensor mask_decode_raw(const Rle& rle, std::int64_t H, std::int64_t W, const std::string& source) {
  if (H < 1 || W < 1) throw InputError(source, "mask size must be at least 1x1, got " + std::to_string(H) + "x" + std::to_string(W));
  if (rle.size() % 2 != 0)
    throw FormatError(source,
                      "run-length mask has an odd number of entries (" + std::to_string(rle.size()) + "): expected start, length pairs");
  const std::int64_t L = H * W;
  at::Tensor mask = at::zeros({H, W}, at::kByte);
  std::uint8_t* flat = mask.data_ptr<std::uint8_t>();
  const auto fill = [&](std::int64_t from, std::int64_t to) { std::fill(flat + from, flat + to, std::uint8_t{1}); };
  for (std::size_t i = 0; i < rle.size(); i += 2) {
    const std::int64_t start = rle[i], length = rle[i + 1];
    // The reference sets flat[start + j] for j < min(length, L - start): nothing for length <= 0
    // or start >= L; a Python IndexError for start < -L; negative indices wrap.
    if (length <= 0 || start >= L) continue;
    if (start < -L)
      throw FormatError(source, "run " + std::to_string(i / 2) + " starts at " + std::to_string(start) + ", before -" + std::to_string(L) +
                                    " (the reference's index error)");
    const std::int64_t count = std::min(length, L - start);  // -L <= start < L: no overflow
    if (start >= 0) {
      fill(start, start + count);
    } else {
      fill(L + start, std::min(L, L + start + count));             // the wrapped part, at the end
      if (start + count > 0) fill(0, std::min(L, start + count));  // then on from index 0
    }
  }
  return mask;
}

at::Tensor force_border(at::Tensor mask) {
  mask.select(0, 0).fill_(1);
  mask.select(0, mask.size(0) - 1).fill_(1);
  mask.select(1, 0).fill_(1);
  mask.select(1, mask.size(1) - 1).fill_(1);
  return mask;
}

at::Tensor mask_decode(const Rle& rle, std::int64_t H, std::int64_t W, const std::string& source) {
  return force_border(mask_decode_raw(rle, H, W, source));
}

Rle mask_encode(const at::Tensor& mask) {
  if (mask.dim() != 2) throw InputError("mask", "expected a [H, W] mask, got shape " + c10::str(mask.sizes()));
  const at::Tensor bits = mask.ne(0).to(at::kByte).contiguous().cpu();
  const std::uint8_t* flat = bits.data_ptr<std::uint8_t>();
  const std::int64_t L = bits.numel();
  Rle runs;
  for (std::int64_t i = 0; i < L;) {
    if (!flat[i]) {
      ++i;
      continue;
    }
    std::int64_t end = i;
    while (end < L && flat[end]) ++end;
    runs.push_back(i);
    runs.push_back(end - i);
    i = end;
  }
  return runs;
}

}  // namespace diffedit::data
