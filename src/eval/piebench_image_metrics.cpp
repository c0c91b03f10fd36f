// PIE-Bench's per-image metrics in the registry (metrics/piebench_metrics.h computes them at parity
// with its evaluate.py): `piebench` writes the seven columns of PnP Inversion's Table 1,
// `piebench_extra` the other 11 of evaluate.py (both: all 18). Values are stored as evaluate.py returns them (the table's
// units are a report's scaling: metrics::kPieBenchMetrics), under "pie_<evaluate.py's name>".
//
// Inputs as evaluate.py reads them: the input and the edited image as the uint8 files hold them,
// the true edit region as the mask (PIE-Bench's decoded mask, border forced), the dataset's source
// description as the original prompt and the query as the editing prompt. A part whose mask is
// empty is skipped as the reference skips it (no value in the record); a PSNR of identical parts
// (+inf there) is recorded as metrics::kMaxPsnrDb, the project's cap (records are JSON).
#include <ATen/ATen.h>
#include <torch/nn.h>

#include <cmath>

#include "data/toy_datasets.h"
#include "eval/metric_networks.h"
#include "eval/metric_registry.h"
#include "eval/piebench_eval.h"
#include "image/resize.h"
#include "metrics/piebench_metrics.h"
#include "metrics/region.h"

namespace diffedit::eval {

using config::Json;

namespace {

// [3, H, W] (or [1, 3, H, W]) in [0, 1] -> uint8 [H, W, 3] on the CPU, as the PNG file of it holds it.
at::Tensor as_file_u8(const at::Tensor& image01) {
  return image::to_u8_hwc((image01.dim() == 4 ? image01[0] : image01).to(at::kCPU, at::kFloat));
}

Better better_of(metrics::PieBenchKind kind) {
  switch (kind) {
    case metrics::PieBenchKind::psnr:
    case metrics::PieBenchKind::ssim:
    case metrics::PieBenchKind::clip_similarity: return Better::higher;
    default: return Better::lower;
  }
}

// `table`: Table 1's columns, or evaluate.py's others.
Metric piebench_entry(const std::string& name, bool table) {
  Metric m{.name = name,
           .doc = table ? "PIE-Bench's Table 1: structure distance, background PSNR/LPIPS/MSE/SSIM, CLIP similarity whole and edited"
                        : "the other 11 metrics of PIE-Bench's evaluate.py (whole image, edit part, background structure, source CLIP)"};
  m.needs = {.lpips = true, .clip = true, .dino = true, .compares = "input, source and editing prompts", .ground_truth = "edit region"};
  for (const auto& spec : metrics::kPieBenchMetrics) {
    if (spec.in_table != table) continue;
    MetricValue v{.key = "pie_" + std::string(spec.name), .better = better_of(spec.kind)};
    // The trade-off axes of a PIE-Bench run, after the toy world's own measures.
    if (spec.name == "clip_similarity_target_image_edit_part") v.axis = Axis::edit, v.axis_rank = 3;
    if (spec.name == "psnr_unedit_part") v.axis = Axis::fidelity, v.axis_rank = 2;
    m.values.push_back(v);
  }
  m.measure = [table](ImageContext& c, Json& out) {
    if (!c.sample.region.defined()) return;
    torch::NoGradGuard no_grad;
    const at::Tensor src = as_file_u8(c.sample.image), tgt = as_file_u8(c.edited);
    const at::Tensor mask = c.sample.region.reshape({c.sample.region.size(-2), c.sample.region.size(-1)});
    const std::string& original = c.sample.source.empty() ? c.sample.reference : c.sample.source;
    metrics::PieBenchNetworks n;
    n.lpips = c.networks.lpips;
    n.clip = c.networks.clip;
    n.structure_distance = piebench_structure_distance(c.networks.dino);
    for (const auto& spec : metrics::kPieBenchMetrics) {
      if (spec.in_table != table) continue;
      const auto v = metrics::piebench_metric(spec.name, src, tgt, mask, original, c.sample.query, n);
      if (v.is_skipped()) continue;
      out["pie_" + std::string(spec.name)] = std::isinf(v.value()) && v.value() > 0 ? metrics::kMaxPsnrDb : v.value();
    }
  };
  return m;
}

}  // namespace

std::vector<Metric> piebench_metrics() { return {piebench_entry("piebench", true), piebench_entry("piebench_extra", false)}; }

}  // namespace diffedit::eval
