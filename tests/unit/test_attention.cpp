// The attention kernel's slicing (over batch x heads, then queries) must not change results.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/blocks.h"

TEST(Attention, SlicedEqualsUnsliced) {
  at::manual_seed(0);
  const at::Tensor q = at::randn({2, 64, 32}), k = at::randn({2, 77, 32}), v = at::randn({2, 77, 32});
  const double scale = 1.0 / std::sqrt(8.0);
  const at::Tensor whole = diffedit::models::multihead_attention(q, k, v, 4, scale, false, std::int64_t{1} << 30);
  // 1 KiB budget: one head at a time and a few query rows per slice.
  const at::Tensor sliced = diffedit::models::multihead_attention(q, k, v, 4, scale, false, 1024);
  EXPECT_TRUE(at::allclose(whole, sliced, 1e-6, 1e-7));
  // Reference: softmax(q k^T / sqrt(d)) v per head.
  const at::Tensor qh = q.view({2, 64, 4, 8}).transpose(1, 2), kh = k.view({2, 77, 4, 8}).transpose(1, 2),
                   vh = v.view({2, 77, 4, 8}).transpose(1, 2);
  const at::Tensor ref = at::matmul(at::softmax(at::matmul(qh, kh.transpose(-1, -2)) * scale, -1), vh).transpose(1, 2).reshape({2, 64, 32});
  EXPECT_TRUE(at::allclose(whole, ref, 1e-5, 1e-6));
}
