// The per-image metrics of the registry: one entry each, with what it reads and how it is computed.
#include <ATen/ATen.h>

#include <algorithm>

#include "data/toy_datasets.h"
#include "editing/method.h"
#include "eval/metric_networks.h"
#include "eval/metric_registry.h"
#include "image/resize.h"
#include "metrics/clip_score.h"
#include "metrics/region.h"
#include "pipelines/clip_model.h"

namespace diffedit::eval {

using config::Json;

namespace {

// FlexIT's eval.py preprocessing: the image as a file holds it (uint8), torchvision's
// Resize(n) + CenterCrop(n) with Pillow's bilinear filter, back to [0, 1].
at::Tensor flexit_view(const at::Tensor& image, std::int64_t size) {
  return image::resize_center_crop(image[0], size, image::Filter::bilinear).unsqueeze(0);
}

Metric lpips() {
  Metric m{.name = "lpips", .doc = "LPIPS between the edited image and the input (metrics.lpips)"};
  m.needs = {.lpips = true, .compares = "input"};
  m.values = {{.key = "lpips", .better = Better::lower, .axis = Axis::fidelity, .axis_rank = 1}};
  m.measure = [](ImageContext& c, Json& out) {
    out["lpips"] = (*c.networks.lpips)(c.networks.on_device(c.edited), c.networks.on_device(c.input)).item<double>();
  };
  return m;
}

Metric clip_score() {
  Metric m{.name = "clip_score", .doc = "CLIPScore of the edited image and the query: 2.5 max(cos, 0) (Hessel et al.)"};
  m.needs = {.clip = true, .compares = "query"};
  m.values = {{.key = "clip_score", .better = Better::higher, .axis = Axis::edit, .axis_rank = 2},
              {.key = "clip_cosine", .better = Better::higher}};
  m.measure = [](ImageContext& c, Json& out) {
    auto& clip = *c.networks.clip;
    const double cos = metrics::paired_cosine(clip.image_embeds_any(c.edited[0]), clip.text_embeds({c.sample.query})).item<double>();
    out["clip_cosine"] = cos;
    out["clip_score"] = 2.5 * std::max(cos, 0.0);
  };
  return m;
}

Metric mask_iou() {
  Metric m{.name = "mask_iou", .doc = "IoU of the method's mask (upsampled nearest to the image) and the true edit region"};
  m.needs = {.ground_truth = "edit region"};
  m.values = {{.key = "mask_iou", .better = Better::higher}};
  m.measure = [](ImageContext& c, Json& out) {
    if (!c.result.mask.defined() || !c.sample.region.defined()) return;
    const at::Tensor mask = at::upsample_nearest2d(c.result.mask.to(at::kCPU, at::kFloat), {c.edited.size(2), c.edited.size(3)});
    out["mask_iou"] = metrics::mask_iou(mask[0][0], c.sample.region[0]);
  };
  return m;
}

Metric edit_success() {
  Metric m{.name = "edit_success", .doc = "the classifier's top-1 on the edited image is the target class"};
  m.needs = {.classifier = true, .compares = "target class"};
  m.values = {{.key = "edit_success", .better = Better::higher, .axis = Axis::edit, .axis_rank = 0},
              {.key = "target_probability", .better = Better::higher},
              {.key = "predicted_class", .aggregate = Aggregate::none}};
  m.measure = [](ImageContext& c, Json& out) {
    if (c.sample.target_label < 0) return;
    const at::Tensor logits = c.networks.classifier->forward(c.networks.on_device(c.edited)).to(at::kCPU);
    const auto s = metrics::edit_success(logits, at::tensor({c.sample.target_label}, at::kLong));
    out["edit_success"] = s.top1;
    out["target_probability"] = s.target_probability;
    out["predicted_class"] = logits.argmax(1).item<std::int64_t>();
  };
  return m;
}

Metric unedited_psnr() {
  Metric m{.name = "unedited_psnr", .doc = "PSNR outside the true edit region, edited vs input (the PSNR of the records' mean MSE)"};
  m.needs = {.compares = "input", .ground_truth = "edit region"};
  m.values = {{.key = "unedited_mse",
               .aggregate = Aggregate::psnr_of_mean,
               .summary_key = "unedited_psnr_db",
               .better = Better::higher,
               .axis = Axis::fidelity,
               .axis_rank = 0}};
  m.measure = [](ImageContext& c, Json& out) {
    if (!c.sample.region.defined()) return;
    out["unedited_mse"] = metrics::masked_mse(c.edited[0], c.sample.image, c.sample.region, metrics::Region::outside);
  };
  return m;
}

Metric unedited_ssim() {
  Metric m{.name = "unedited_ssim", .doc = "SSIM outside the true edit region, edited vs input"};
  m.needs = {.compares = "input", .ground_truth = "edit region"};
  m.values = {{.key = "unedited_ssim", .better = Better::higher}};
  m.measure = [](ImageContext& c, Json& out) {
    if (!c.sample.region.defined()) return;
    out["unedited_ssim"] = metrics::masked_ssim(c.edited[0], c.sample.image, c.sample.region, metrics::Region::outside);
  };
  return m;
}

Metric target_psnr() {
  Metric m{.name = "target_psnr", .doc = "PSNR of the edited image against the true edited image (the PSNR of the records' mean MSE)"};
  m.needs = {.ground_truth = "target image"};
  m.values = {{.key = "target_mse", .aggregate = Aggregate::psnr_of_mean, .summary_key = "target_psnr_db", .better = Better::higher}};
  m.measure = [](ImageContext& c, Json& out) {
    if (!c.sample.target_image.defined()) return;
    out["target_mse"] = metrics::masked_mse(c.edited[0], c.sample.target_image, at::zeros_like(c.sample.region), metrics::Region::outside);
  };
  return m;
}

Metric flexit_lpips() {
  Metric m{.name = "flexit_lpips", .doc = "FlexIT eval.py's LPIPS: x100, after Resize + CenterCrop to metrics.flexit_size"};
  m.needs = {.lpips = true, .compares = "input"};
  m.values = {{.key = "flexit_lpips", .better = Better::lower}};
  m.measure = [](ImageContext& c, Json& out) {
    const std::int64_t n = c.networks.spec.flexit_size;
    auto view = [&](const at::Tensor& image) { return c.networks.on_device(flexit_view(image, n)); };
    out["flexit_lpips"] = 100.0 * (*c.networks.lpips)(view(c.edited), view(c.input)).item<double>();
  };
  return m;
}

Metric flexit_accuracy() {
  Metric m{
      .name = "flexit_accuracy",
      .doc = "FlexIT eval.py's accuracy: argmax over the benchmark's classes (the dataset's targets); correct = target, unedited = source"};
  m.needs = {.classifier = true, .compares = "target class"};
  m.values = {{.key = "flexit_correct", .better = Better::higher}, {.key = "flexit_unedited", .better = Better::lower}};
  m.measure = [](ImageContext& c, Json& out) {
    if (c.sample.target_label < 0) return;
    const auto& classes = c.networks.benchmark_classes;
    const at::Tensor idx = at::tensor(classes, at::kLong);
    const at::Tensor logits = c.networks.classifier->forward(c.networks.on_device(c.edited)).to(at::kCPU);
    const std::int64_t pick = classes.at(logits.index_select(1, idx).argmax(1).item<std::int64_t>());
    out["flexit_correct"] = pick == c.sample.target_label ? 1.0 : 0.0;
    out["flexit_unedited"] = pick == c.sample.source_label ? 1.0 : 0.0;
  };
  return m;
}

}  // namespace

std::vector<Metric> per_image_metrics() {
  return {edit_success(),  clip_score(),  lpips(),           mask_iou(),    unedited_psnr(),
          unedited_ssim(), target_psnr(), flexit_accuracy(), flexit_lpips()};
}

}  // namespace diffedit::eval
