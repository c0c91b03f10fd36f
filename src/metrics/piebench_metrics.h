// PIE-Bench's per-image metrics (Ju et al., ICLR 2024: PnPInversion's evaluation/evaluate.py and
// matrics_calculator.py, with torchmetrics 1.2.0), at numeric parity with the reference
// (fixture piebench-v1; "mc l.N" are its line references).
//
// Why beside metrics/region.h: the two disagree by design. region.h averages a per-pixel map over
// the region's pixels only, with a reflect-padded SSIM map that has a value at every pixel (so it
// can be restricted to a mask); that is the project's own convention. PIE-Bench instead multiplies
// BOTH images by the mask (masked-out pixels become black) and takes whole-image statistics of the
// zeroed images: PSNR and MSE over all 3*H*W values, SSIM as torchmetrics 1.2.0's mean over the
// (H-10) x (W-10) windows lying inside the image. Its numbers are only reproduced this way.
//
// Inputs: images uint8 [H, W, 3] as np.array(PIL image) gives them; a mask [H, W] of any dtype
// (the reference's float64 values, 1 = edit region, border forced to 1 by the loader). A metric's
// part is the whole image, the edit region (x mask) or the background (x (1 - mask)).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "image/clip_preprocess.h"
#include "metrics/perceptual.h"

namespace diffedit::pipelines {
class ClipModel;
}

namespace diffedit::metrics {

enum class PieBenchPart { whole, edit, unedit };
enum class PieBenchKind { psnr, lpips, mse, ssim, structure_distance, clip_similarity };
// What a metric reads: both images (a distance) or one image with its prompt (CLIP similarity:
// the source with the original prompt, the target with the editing prompt).
enum class PieBenchImages { pair, source, target };

struct PieBenchMetric {
  std::string_view name;  // as evaluate.py names it (its CSV column)
  PieBenchKind kind;
  PieBenchPart part;
  PieBenchImages images;
  double table_scale;  // PnP Inversion Table 1's unit: structure x1e3, LPIPS x1e3, MSE x1e4, SSIM x1e2
  bool in_table;       // a column of Table 1 (background = *_unedit_part, "Whole", "Edited")
  bool by_default;     // in evaluate.py's default --metrics (metrics.json: paper_default_metrics)
};

// The 18 metrics in evaluate.py's order (its CSV columns).
inline constexpr std::array<PieBenchMetric, 18> kPieBenchMetrics{{
    {"psnr", PieBenchKind::psnr, PieBenchPart::whole, PieBenchImages::pair, 1.0, false, false},
    {"lpips", PieBenchKind::lpips, PieBenchPart::whole, PieBenchImages::pair, 1e3, false, false},
    {"mse", PieBenchKind::mse, PieBenchPart::whole, PieBenchImages::pair, 1e4, false, false},
    {"ssim", PieBenchKind::ssim, PieBenchPart::whole, PieBenchImages::pair, 1e2, false, false},
    {"structure_distance", PieBenchKind::structure_distance, PieBenchPart::whole, PieBenchImages::pair, 1e3, true, true},
    {"psnr_unedit_part", PieBenchKind::psnr, PieBenchPart::unedit, PieBenchImages::pair, 1.0, true, true},
    {"lpips_unedit_part", PieBenchKind::lpips, PieBenchPart::unedit, PieBenchImages::pair, 1e3, true, true},
    {"mse_unedit_part", PieBenchKind::mse, PieBenchPart::unedit, PieBenchImages::pair, 1e4, true, true},
    {"ssim_unedit_part", PieBenchKind::ssim, PieBenchPart::unedit, PieBenchImages::pair, 1e2, true, true},
    {"structure_distance_unedit_part", PieBenchKind::structure_distance, PieBenchPart::unedit, PieBenchImages::pair, 1e3, false, false},
    {"psnr_edit_part", PieBenchKind::psnr, PieBenchPart::edit, PieBenchImages::pair, 1.0, false, false},
    {"lpips_edit_part", PieBenchKind::lpips, PieBenchPart::edit, PieBenchImages::pair, 1e3, false, false},
    {"mse_edit_part", PieBenchKind::mse, PieBenchPart::edit, PieBenchImages::pair, 1e4, false, false},
    {"ssim_edit_part", PieBenchKind::ssim, PieBenchPart::edit, PieBenchImages::pair, 1e2, false, false},
    {"structure_distance_edit_part", PieBenchKind::structure_distance, PieBenchPart::edit, PieBenchImages::pair, 1e3, false, false},
    {"clip_similarity_source_image", PieBenchKind::clip_similarity, PieBenchPart::whole, PieBenchImages::source, 1.0, false, true},
    {"clip_similarity_target_image", PieBenchKind::clip_similarity, PieBenchPart::whole, PieBenchImages::target, 1.0, true, true},
    {"clip_similarity_target_image_edit_part", PieBenchKind::clip_similarity, PieBenchPart::edit, PieBenchImages::target, 1.0, true, true},
}};

// The entry of `name`; InputError for a name evaluate.py does not know.
const PieBenchMetric& piebench_metric_spec(std::string_view name);

// One image's value: computed (PSNR of identical images is +inf), or skipped because the part's
// mask sums to 0, where the reference returns the string "nan" (only *_unedit_part can be, the
// forced border keeps the edit part non-empty). A skipped value is not a computed NaN.
class PieBenchValue {
 public:
  static PieBenchValue computed(double value) { return PieBenchValue(value, false); }
  static PieBenchValue skipped();
  bool is_skipped() const { return skipped_; }
  double value() const { return value_; }  // NaN when skipped

 private:
  PieBenchValue(double value, bool skipped) : value_(value), skipped_(skipped) {}
  double value_;
  bool skipped_;
};

// The part's float32 mask [H, W] as the reference builds it: mask (edit) or 1 - mask taken in
// float64 (unedit), then cast; undefined for the whole image.
at::Tensor piebench_part_mask(const at::Tensor& mask, PieBenchPart part);
// Whether evaluate.py skips the part ("nan"): its mask sums to 0. Never for the whole image.
bool piebench_part_empty(const at::Tensor& mask, PieBenchPart part);
// (u8 / 255 in float32) * part_mask (undefined: no mask) -> float32 [3, H, W]: what PSNR, MSE and
// SSIM receive, bit-exact (mc l.304-382). Like the reference's permute(2, 0, 1), a view of HWC
// memory: PSNR's float32 sum runs in that order (MSE's over a contiguous copy, as torchmetrics' view(-1) needs).
at::Tensor piebench_masked(const at::Tensor& image_u8, const at::Tensor& part_mask);

// On two masked images [3, H, W] (values are float32, widened). data_range 1, no clamping.
// PSNR: torchmetrics' (2 ln 1 - ln(SSE / N)) * 10 / ln 10 in float32; +inf when identical.
double piebench_psnr(const at::Tensor& a, const at::Tensor& b);
// MSE: SSE / (3 H W).
double piebench_mse(const at::Tensor& a, const at::Tensor& b);
// torchmetrics 1.2.0 SSIM: reflect pad 5, valid 11x11 Gaussian (sigma 1.5) convolution of
// [a, b, a^2, b^2, ab], unclamped variances, the map cropped by 5 on each side and averaged.
double piebench_ssim(const at::Tensor& a, const at::Tensor& b);
// The full map [3, H, W] before the crop (its border comes from the padding; torchmetrics >= 1.4.3
// averages it whole, 1.2.0 does not).
at::Tensor piebench_ssim_map(const at::Tensor& a, const at::Tensor& b);
// The 1-D window [11]: exp(-((i - 5) / 1.5)^2 / 2) normalised to sum 1; the 2-D one is its outer product.
at::Tensor piebench_ssim_gaussian();
// LPIPS' input: x * 2 - 1 of a masked image, [1, 3, H, W] in [-1, 1] (black stays black: -1).
at::Tensor piebench_lpips_input(const at::Tensor& masked);
// torchmetrics 1.2.0 LPIPS (its normalisation f / (sqrt(sum f^2) + 1e-10) is metrics/lpips.h's) of
// two masked images: `distance`'s 2x - 1 is piebench_lpips_input's, bit for bit. With lpips-squeeze
// weights this is PIE-Bench's; the toy twin uses the toy classifier's unweighted LPIPS.
double piebench_lpips(PerceptualDistance& distance, const at::Tensor& a, const at::Tensor& b);

// The uint8 [3, H, W] image CLIPScore receives: the image, or np.uint8(image * mask) for the edit
// part (mask undefined: none) - background black, the forced border frame kept.
at::Tensor piebench_clip_image(const at::Tensor& image_u8, const at::Tensor& mask);
// transformers' slow CLIPImageProcessor as CLIPScore runs it: 224, OpenAI's mean/std, floor crop.
image::ClipPreprocess piebench_clip_preprocess();
// pixel_values float32 [3, n, n] of a uint8 [3, H, W] CLIP image.
at::Tensor piebench_clip_pixel_values(const at::Tensor& clip_image, const image::ClipPreprocess& options = piebench_clip_preprocess());
// torchmetrics' CLIPScore of one image and one prompt: max(100 cos(image, text), 0), the prompt's
// ids [BOS] + content + [EOS] sliced to the first 77 (a long prompt loses its EOS). The model's
// own size and mean/std, with transformers' floor crop.
double piebench_clip_score(pipelines::ClipModel& clip, const at::Tensor& clip_image, const std::string& prompt);

// Structure distance (DINO self-similarity) of two uint8 images [H, W, 3], the part's float32
// mask [H, W] multiplying their 0..255 values (undefined: whole image).
using PieBenchStructureDistance = std::function<double(const at::Tensor& src_u8, const at::Tensor& tgt_u8, const at::Tensor& part_mask)>;

// The networks the metrics need; a metric whose network is absent throws InputError.
struct PieBenchNetworks {
  std::optional<PerceptualDistance> lpips;  // lpips-squeeze, as torchmetrics' LearnedPerceptualImagePatchSimilarity('squeeze')
  std::shared_ptr<pipelines::ClipModel> clip;
  PieBenchStructureDistance structure_distance;
};

// evaluate.py's calculate_metric(name, src, tgt, mask, mask, original_prompt, editing_prompt):
// images uint8 [H, W, 3] of one size, mask [H, W]; prompts with the brackets already removed.
PieBenchValue piebench_metric(std::string_view name, const at::Tensor& src_u8, const at::Tensor& tgt_u8, const at::Tensor& mask,
                              const std::string& original_prompt, const std::string& editing_prompt, const PieBenchNetworks& networks);

}  // namespace diffedit::metrics
