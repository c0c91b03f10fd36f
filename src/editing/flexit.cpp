#include "editing/flexit.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "core/errors.h"
#include "editing/diffedit.h"
#include "editing/noise.h"
#include "image/resize.h"
#include "metrics/perceptual.h"
#include "pipelines/clip_model.h"

namespace diffedit::editing {

namespace {

using config::Json;
using config::Schema;

// Networks are loaded once per process: a sweep builds one method object per setting.
std::mutex g_models_mutex;

pipelines::ClipModel& clip_model(const std::string& dir, const at::Device& device) {
  static std::map<std::string, std::unique_ptr<pipelines::ClipModel>> cache;
  std::lock_guard lock(g_models_mutex);
  auto& slot = cache[dir + "@" + device.str()];
  if (!slot) {
    slot = std::make_unique<pipelines::ClipModel>(pipelines::ClipModel::load(dir));
    slot->vision->to(device);
    slot->text->to(device);
    slot->vision->eval();
    slot->text->eval();
  }
  return *slot;
}

metrics::PerceptualDistance& perceptual(const std::string& name, const std::string& weights, const at::Device& device) {
  static std::map<std::string, std::unique_ptr<metrics::PerceptualDistance>> cache;
  std::lock_guard lock(g_models_mutex);
  auto& slot = cache[name + "|" + weights + "@" + device.str()];
  if (!slot) {
    slot = std::make_unique<metrics::PerceptualDistance>(metrics::PerceptualDistance::load(name, weights, "lpips.name"));
    slot->to(device);
  }
  return *slot;
}

at::Tensor unit(const at::Tensor& v) { return v / v.norm(2, {-1}, true); }

// The image as a CLIP tower of input size s takes it: shorter side resized to s (bicubic,
// antialiased when shrinking, as CLIP's PIL transform), centre crop. Differentiable.
at::Tensor clip_view(const at::Tensor& x, std::int64_t s) { return image::torch_resize_cover_crop(x, s, s, image::Filter::bicubic); }

// A random resized crop (scale 0.8-1 of each side, position uniform) and a horizontal flip with
// probability 1/2, drawn from the noise stream (uniforms from normals through the normal CDF).
at::Tensor augment(const at::Tensor& x, NoiseSource& noise) {
  const at::Tensor n = noise.randn({4});
  auto u = [&](int i) { return 0.5 * (1.0 + std::erf(n[i].item<double>() / std::sqrt(2.0))); };
  const std::int64_t h = x.size(2), w = x.size(3);
  const double scale = 0.8 + 0.2 * u(0);
  const std::int64_t ch = std::max<std::int64_t>(1, std::llround(h * scale)), cw = std::max<std::int64_t>(1, std::llround(w * scale));
  const std::int64_t top = std::min(h - ch, static_cast<std::int64_t>(u(1) * static_cast<double>(h - ch + 1)));
  const std::int64_t left = std::min(w - cw, static_cast<std::int64_t>(u(2) * static_cast<double>(w - cw + 1)));
  at::Tensor v = x.slice(2, top, top + ch).slice(3, left, left + cw);
  return u(3) < 0.5 ? v.flip({3}) : v;
}

}  // namespace

Schema flexit_schema() {
  return Schema::object({
      {"iterations", Schema::integer().range(0, 100000).def(160).doc("optimisation steps (FlexIT saves 16, 32, 64 and 160)")},
      {"clip_models", Schema::array(Schema::string()).non_empty().required().doc("CLIPModel directories; the loss averages over them")},
      {"im0_coef", Schema::number().def(0.2)},
      {"source_coef", Schema::number().def(0.4)},
      {"target_coef", Schema::number().def(1.0)},
      {"lr", Schema::number().range(0, std::nullopt).def(0.05).doc("step size relative to |z0|")},
      {"lpips_weight", Schema::number().range(0, std::nullopt).def(0.15)},
      {"lpips", Schema::object({{"name", Schema::string().def("lpips-vgg")}, {"weights", Schema::string().required()}})
                    .nullable()
                    .def(nullptr)
                    .doc("the regulariser's network (FlexIT: VGG LPIPS); needed when lpips_weight > 0")},
      {"znorm_weight", Schema::number().range(0, std::nullopt).def(0.05).doc("weight of mean|z - z0| + mean (z - z0)^2")},
      {"n_augment", Schema::integer().range(0, 64).def(1)},
      {"source_text", Schema::string()
                          .choices({"dataset", "reference", "none"})
                          .def("dataset")
                          .doc("S: the dataset's description of the input (source class name or caption), R, or none")},
  });
}

std::string flexit_source(const EditRequest& request, const FlexITOptions& o) {
  if (o.source_text == "none") return "";
  if (o.source_text == "reference" || request.source.empty()) return request.reference;
  return request.source;
}

FlexITOptions flexit_options(const Json& p) {
  FlexITOptions o;
  o.source_text = p["source_text"];
  for (const auto& m : p["clip_models"]) o.clip_models.push_back(m);
  o.im0_coef = p["im0_coef"];
  o.source_coef = p["source_coef"];
  o.target_coef = p["target_coef"];
  o.lr = p["lr"];
  o.lpips_weight = p["lpips_weight"];
  if (p["lpips"].is_object()) {
    o.lpips_net = p["lpips"]["name"];
    o.lpips_weights = p["lpips"]["weights"];
  } else if (o.lpips_weight > 0) {
    throw ConfigError("lpips", "flexit needs an LPIPS network ({\"name\", \"weights\"}) when lpips_weight > 0");
  }
  o.znorm_weight = p["znorm_weight"];
  o.n_augment = p["n_augment"];
  return o;
}

at::Tensor flexit_target(const at::Tensor& image_embed, const at::Tensor& source_embed, const at::Tensor& target_embed,
                         const FlexITOptions& o) {
  return unit(o.im0_coef * unit(image_embed) + o.target_coef * unit(target_embed) - o.source_coef * unit(source_embed));
}

void run_flexit(pipelines::StableDiffusion& sd, const EditRequest& request, const FlexITOptions& o,
                const std::vector<std::int64_t>& save_points, NoiseSource& noise,
                const std::function<void(std::size_t, EditResult&&)>& on_save) {
  if (save_points.empty()) throw InputError("iterations", "no iteration count to save");
  const auto start = std::chrono::steady_clock::now();
  const at::Device device = sd.options.device;
  const at::Tensor x0 = request.image.to(device, at::kFloat);

  struct Net {
    pipelines::ClipModel* clip;
    at::Tensor target;
  };
  std::vector<Net> nets;
  at::Tensor z0;
  {
    torch::NoGradGuard no_grad;
    z0 = image_latents(sd, x0, false, noise);
    for (const auto& dir : o.clip_models) {
      auto& m = clip_model(dir, device);
      const std::int64_t s = m.vision->config().image_size;
      const at::Tensor image = m.image_embeds(clip_view(x0, s));
      const at::Tensor texts = m.text_embeds({flexit_source(request, o), request.query});
      nets.push_back({&m, flexit_target(image, texts.slice(0, 0, 1), texts.slice(0, 1, 2), o)});
    }
  }
  metrics::PerceptualDistance* lpips = o.lpips_weight > 0 ? &perceptual(o.lpips_net, o.lpips_weights, device) : nullptr;
  const double z0_norm = z0.norm().item<double>();
  const std::int64_t last = *std::max_element(save_points.begin(), save_points.end());

  torch::AutoGradMode enable_grad(true);
  at::Tensor z = z0.clone();
  Json losses = Json::array();
  for (std::int64_t it = 0;; ++it) {
    const at::Tensor zv = z.detach().requires_grad_(true);
    const at::Tensor x = sd.decode_differentiable(zv);
    at::Tensor clip_loss = at::zeros({}, x.options());
    std::int64_t views = 0;
    for (const Net& net : nets) {
      const std::int64_t s = net.clip->vision->config().image_size;
      for (std::int64_t a = 0; a < std::max<std::int64_t>(1, o.n_augment); ++a) {
        const at::Tensor view = o.n_augment > 0 ? augment(x, noise) : x;
        clip_loss = clip_loss + (unit(net.clip->image_embeds(clip_view(view, s))) - net.target).pow(2).sum();
        ++views;
      }
    }
    clip_loss = clip_loss / static_cast<double>(views);
    const at::Tensor lpips_loss = lpips ? (*lpips)(x, x0).mean() : at::zeros({}, x.options());
    const at::Tensor d = zv - z0;
    const at::Tensor znorm = d.abs().mean() + d.pow(2).mean();
    const at::Tensor loss = clip_loss + o.lpips_weight * lpips_loss + o.znorm_weight * znorm;
    const double value = loss.item<double>();
    if (!std::isfinite(value)) throw NumericError("flexit", "the loss is not finite at iteration " + std::to_string(it));
    losses.push_back(value);

    for (std::size_t i = 0; i < save_points.size(); ++i) {
      if (save_points[i] != it) continue;
      EditResult r;
      r.image = x.detach().clone();
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      r.details = {{"iterations", it},
                   {"loss", value},
                   {"clip_loss", clip_loss.item<double>()},
                   {"lpips_loss", lpips_loss.item<double>()},
                   {"znorm", znorm.item<double>()},
                   {"loss_per_iteration", losses}};
      on_save(i, std::move(r));
    }
    if (it == last) break;
    const at::Tensor g = torch::autograd::grad({loss}, {zv})[0];
    const double g_norm = g.norm().item<double>();
    if (!std::isfinite(g_norm)) throw NumericError("flexit", "the gradient is not finite at iteration " + std::to_string(it));
    if (g_norm == 0.0) {  // at a stationary point: stay
      z = zv.detach();
      continue;
    }
    z = (zv - (o.lr * z0_norm / g_norm) * g).detach();
  }
}

}  // namespace diffedit::editing
