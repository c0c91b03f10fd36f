// piebench-v1's README tolerances for a float32 implementation, by metric kind (its "Tolerances"
// table: PSNR 1e-4 dB, MSE 1e-5 relative + 1e-9, SSIM 1e-4, LPIPS 1e-6, structure distance 1e-4
// relative + 1e-9); 0 for CLIP similarity, which the fixture does not compute.
#pragma once

#include <cmath>

#include "metrics/piebench_metrics.h"

namespace diffedit::testing {

inline double piebench_tolerance(metrics::PieBenchKind kind, double expected) {
  switch (kind) {
    case metrics::PieBenchKind::psnr: return 1e-4;
    case metrics::PieBenchKind::mse: return 1e-5 * std::abs(expected) + 1e-9;
    case metrics::PieBenchKind::ssim: return 1e-4;
    case metrics::PieBenchKind::lpips: return 1e-6;
    case metrics::PieBenchKind::structure_distance: return 1e-4 * std::abs(expected) + 1e-9;
    case metrics::PieBenchKind::clip_similarity: break;
  }
  return 0;
}

}  // namespace diffedit::testing
