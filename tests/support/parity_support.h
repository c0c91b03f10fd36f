// Helpers for parity tests: tolerances and comparisons against reference tensors.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

namespace diffedit::testing {

// max |a - b|, or +inf when shapes differ (so a shape bug never passes).
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

// Asserts max |actual - expected| <= tolerance and reports the measured error with `what`.
::testing::AssertionResult within(const std::string& what, const at::Tensor& actual, const at::Tensor& expected, double tolerance);

}  // namespace diffedit::testing
