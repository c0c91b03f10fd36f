#include "metrics/piebench_metrics.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <cmath>
#include <limits>

#include "core/errors.h"
#include "metrics/clip_score.h"
#include "pipelines/clip_model.h"

namespace diffedit::metrics {

namespace {

constexpr const char* kSource = "piebench metrics";
constexpr std::int64_t kSsimPad = 5;  // (int(3.5 * 1.5 + 0.5) * 2 + 1 - 1) / 2

void check_image(const at::Tensor& image) {
  if (image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    throw InputError(kSource, "images must be uint8 [H, W, 3]");
}

void check_masked_pair(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() != 3 || a.size(0) != 3 || a.sizes() != b.sizes()) throw InputError(kSource, "needs two masked images [3, H, W] of one size");
}

// torchmetrics' images carry a batch dimension: [1, 3, H, W].
at::Tensor batched(const at::Tensor& x) { return x.unsqueeze(0); }

}  // namespace

const PieBenchMetric& piebench_metric_spec(std::string_view name) {
  for (const auto& m : kPieBenchMetrics)
    if (m.name == name) return m;
  throw InputError(kSource, "unknown PIE-Bench metric '" + std::string(name) + "'");
}

PieBenchValue PieBenchValue::skipped() { return PieBenchValue(std::numeric_limits<double>::quiet_NaN(), true); }

at::Tensor piebench_part_mask(const at::Tensor& mask, PieBenchPart part) {
  if (mask.dim() != 2) throw InputError(kSource, "the mask must be [H, W]");
  const at::Tensor m = mask.to(at::kDouble);
  switch (part) {
    case PieBenchPart::whole: return {};
    case PieBenchPart::edit: return m.to(at::kFloat);
    case PieBenchPart::unedit: return (1 - m).to(at::kFloat);
  }
  return {};
}

bool piebench_part_empty(const at::Tensor& mask, PieBenchPart part) {
  if (part == PieBenchPart::whole) return false;
  const at::Tensor m = mask.to(at::kDouble);
  return (part == PieBenchPart::edit ? m : 1 - m).sum().item<double>() == 0;
}

at::Tensor piebench_masked(const at::Tensor& image_u8, const at::Tensor& part_mask) {
  check_image(image_u8);
  // np.array(img).astype(float32) / 255, then * mask.astype(float32): two float32 operations.
  at::Tensor x = image_u8.to(at::kFloat) / 255;
  if (part_mask.defined()) {
    if (part_mask.sizes() != image_u8.sizes().slice(0, 2)) throw InputError(kSource, "the mask and the images differ in size");
    x = x * part_mask.to(at::kFloat).unsqueeze(-1);
  }
  // A CHW view of HWC memory, as the reference's permute(2, 0, 1): the memory order decides the
  // float32 summation order of PSNR and LPIPS' channels-last convolutions.
  return x.permute({2, 0, 1});
}

double piebench_psnr(const at::Tensor& a, const at::Tensor& b) {
  check_masked_pair(a, b);
  // torchmetrics' psnr: (2 log(data_range) - log(sse / n)) * (10 / log(base)), float32 tensors; the
  // Python `10 / t` is reciprocal(t) * 10.
  const at::Tensor sse = at::pow(batched(a) - batched(b), 2).sum();
  const at::Tensor n = at::scalar_tensor(a.numel(), at::kLong);
  const at::Tensor psnr_base_e = 2 * at::log(at::scalar_tensor(1.0, at::kFloat)) - at::log(sse / n);
  return (psnr_base_e * (at::reciprocal(at::log(at::scalar_tensor(10.0, at::kFloat))) * 10)).item<double>();
}

double piebench_mse(const at::Tensor& a, const at::Tensor& b) {
  check_masked_pair(a, b);
  const at::Tensor diff = a.contiguous().view(-1) - b.contiguous().view(-1);
  return ((diff * diff).sum() / at::scalar_tensor(a.numel(), at::kLong)).item<double>();
}

at::Tensor piebench_ssim_gaussian() {
  // torchmetrics' _gaussian(11, 1.5): arange((1 - 11) / 2, (1 + 11) / 2) in float32.
  const at::Tensor dist = at::arange(-5.0, 6.0, 1.0, at::kFloat);
  const at::Tensor gauss = at::exp(-at::pow(dist / 1.5, 2) / 2);
  return gauss / gauss.sum();
}

at::Tensor piebench_ssim_map(const at::Tensor& a, const at::Tensor& b) {
  check_masked_pair(a, b);
  if (a.size(1) <= kSsimPad || a.size(2) <= kSsimPad) throw InputError(kSource, "SSIM's reflect padding needs images over 5 pixels a side");
  const at::Tensor g = piebench_ssim_gaussian().unsqueeze(0);
  const at::Tensor kernel = at::matmul(g.t(), g).expand({3, 1, 11, 11});
  const std::vector<std::int64_t> pad(4, kSsimPad);
  const at::Tensor p = at::reflection_pad2d(batched(a), pad), t = at::reflection_pad2d(batched(b), pad);
  const at::Tensor outputs = at::conv2d(at::cat({p, t, p * p, t * t, p * t}), kernel, at::Tensor(), at::IntArrayRef{1, 1},
                                        at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, 3);
  const auto o = outputs.split(1);
  const at::Tensor mu_pred_sq = o[0].pow(2), mu_target_sq = o[1].pow(2), mu_pred_target = o[0] * o[1];
  const at::Tensor sigma_pred_sq = o[2] - mu_pred_sq, sigma_target_sq = o[3] - mu_target_sq, sigma_pred_target = o[4] - mu_pred_target;
  const double c1 = std::pow(0.01 * 1.0, 2), c2 = std::pow(0.03 * 1.0, 2);
  const at::Tensor upper = 2 * sigma_pred_target + c2;
  const at::Tensor lower = (sigma_pred_sq + sigma_target_sq) + c2;
  return (((2 * mu_pred_target + c1) * upper) / ((mu_pred_sq + mu_target_sq + c1) * lower)).squeeze(0);
}

double piebench_ssim(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor full = piebench_ssim_map(a, b).unsqueeze(0);
  const at::Tensor inner = full.slice(2, kSsimPad, full.size(2) - kSsimPad).slice(3, kSsimPad, full.size(3) - kSsimPad);
  return inner.reshape({1, -1}).mean(-1).sum().item<double>();
}

at::Tensor piebench_lpips_input(const at::Tensor& masked) { return batched(masked) * 2 - 1; }

double piebench_lpips(PerceptualDistance& distance, const at::Tensor& a, const at::Tensor& b) {
  check_masked_pair(a, b);
  torch::NoGradGuard no_grad;
  return distance(a.unsqueeze(0), b.unsqueeze(0)).sum().item<double>();
}

at::Tensor piebench_clip_image(const at::Tensor& image_u8, const at::Tensor& mask) {
  check_image(image_u8);
  if (!mask.defined()) return image_u8.permute({2, 0, 1}).contiguous();
  if (mask.sizes() != image_u8.sizes().slice(0, 2)) throw InputError(kSource, "the mask and the image differ in size");
  // np.uint8(img * mask): uint8 x float64, truncated back to uint8.
  const at::Tensor product = image_u8.to(at::kDouble) * mask.to(at::kDouble).unsqueeze(-1);
  return product.to(at::kByte).permute({2, 0, 1}).contiguous();
}

image::ClipPreprocess piebench_clip_preprocess() {
  image::ClipPreprocess p;
  p.crop = image::CropOffset::floor;
  return p;
}

at::Tensor piebench_clip_pixel_values(const at::Tensor& clip_image, const image::ClipPreprocess& options) {
  if (clip_image.dim() != 3 || clip_image.size(0) != 3 || clip_image.scalar_type() != at::kByte)
    throw InputError(kSource, "a CLIP image must be uint8 [3, H, W]");
  return image::clip_preprocess(clip_image.permute({1, 2, 0}).contiguous(), options);
}

double piebench_clip_score(pipelines::ClipModel& clip, const at::Tensor& clip_image, const std::string& prompt) {
  image::ClipPreprocess options = clip.preprocess;
  options.crop = image::CropOffset::floor;
  std::vector<std::int64_t> ids = clip.tokenizer.encode_untruncated(prompt);
  if (static_cast<std::int64_t>(ids.size()) > clip.tokenizer.max_length())
    ids.resize(static_cast<std::size_t>(clip.tokenizer.max_length()));
  torch::NoGradGuard no_grad;
  const at::Tensor pixel_values = piebench_clip_pixel_values(clip_image, options).unsqueeze(0).to(clip.device());
  const at::Tensor image_embeds = clip.vision->forward(pixel_values).image_embeds;
  const at::Tensor text_embeds = clip.text->forward(at::tensor(ids, at::kLong).unsqueeze(0).to(clip.device())).text_embeds;
  return torchmetrics_clip_score(image_embeds.to(at::kCPU), text_embeds.to(at::kCPU));
}

PieBenchValue piebench_metric(std::string_view name, const at::Tensor& src_u8, const at::Tensor& tgt_u8, const at::Tensor& mask,
                              const std::string& original_prompt, const std::string& editing_prompt, const PieBenchNetworks& networks) {
  const PieBenchMetric& spec = piebench_metric_spec(name);
  check_image(src_u8);
  check_image(tgt_u8);
  if (src_u8.sizes() != tgt_u8.sizes()) throw InputError(kSource, "the source and target images differ in size");
  if (mask.dim() != 2 || mask.sizes() != src_u8.sizes().slice(0, 2)) throw InputError(kSource, "the mask must be [H, W] of the images");
  if (piebench_part_empty(mask, spec.part)) return PieBenchValue::skipped();
  const auto missing = [&](const char* network) { return InputError(kSource, std::string(name) + " needs " + network); };

  if (spec.kind == PieBenchKind::clip_similarity) {
    if (!networks.clip) throw missing("a CLIP model");
    const bool source = spec.images == PieBenchImages::source;
    const at::Tensor image = piebench_clip_image(source ? src_u8 : tgt_u8, spec.part == PieBenchPart::edit ? mask : at::Tensor());
    return PieBenchValue::computed(piebench_clip_score(*networks.clip, image, source ? original_prompt : editing_prompt));
  }
  const at::Tensor part_mask = piebench_part_mask(mask, spec.part);
  if (spec.kind == PieBenchKind::structure_distance) {
    if (!networks.structure_distance) throw missing("a structure distance (DINO)");
    return PieBenchValue::computed(networks.structure_distance(src_u8, tgt_u8, part_mask));
  }
  const at::Tensor a = piebench_masked(src_u8, part_mask), b = piebench_masked(tgt_u8, part_mask);
  switch (spec.kind) {
    case PieBenchKind::psnr: return PieBenchValue::computed(piebench_psnr(a, b));
    case PieBenchKind::mse: return PieBenchValue::computed(piebench_mse(a, b));
    case PieBenchKind::ssim: return PieBenchValue::computed(piebench_ssim(a, b));
    case PieBenchKind::lpips: {
      if (!networks.lpips) throw missing("an LPIPS network");
      PerceptualDistance distance = *networks.lpips;
      return PieBenchValue::computed(piebench_lpips(distance, a, b));
    }
    case PieBenchKind::structure_distance:
    case PieBenchKind::clip_similarity: break;  // handled above
  }
  throw InputError(kSource, "unhandled metric " + std::string(name));
}

}  // namespace diffedit::metrics
