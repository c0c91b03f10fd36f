// Helpers for parity tests: tolerances and comparisons against reference tensors.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

namespace diffedit::testing {

// The device the parity tests of the networks and of DiffEdit run on: $DIFFEDIT_TEST_DEVICE
// ("cpu" when unset or empty; "cuda", "cuda:N"), so the same fixtures check a GPU
// (scripts/gpu-check.sh). Models and inputs move there, results come back to the CPU to be
// compared (within() does it). On CUDA, TF32 is turned off for convolutions and matrix products:
// float32 is compared at float32's tolerances. A name that is not a usable device fails the test.
c10::Device test_device();
// `t` on the test device (itself on the CPU: the CPU default runs exactly as before).
at::Tensor on_test_device(const at::Tensor& t);

// max |a - b|, or +inf when shapes differ (so a shape bug never passes).
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

// Asserts max |actual - expected| <= tolerance and reports the measured error with `what`; the
// error and tolerance are also recorded as the test's property `what` ("error/tolerance", in
// --gtest_output's report). `actual` may be on another device: it is compared on the CPU.
::testing::AssertionResult within(const std::string& what, const at::Tensor& actual, const at::Tensor& expected, double tolerance);

}  // namespace diffedit::testing
