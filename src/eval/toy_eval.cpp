#include "eval/toy_eval.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "core/rng.h"
#include "data/toyworld.h"
#include "data/toyworld_presets.h"
#include "diffusion/schedulers.h"
#include "editing/diffedit.h"
#include "editing/method.h"
#include "editing/noise.h"
#include "eval/claims.h"
#include "eval/record_store.h"
#include "eval/runner.h"
#include "eval/summary.h"
#include "metrics/clip_score.h"
#include "metrics/region.h"
#include "models/toy_classifier.h"
#include "pipelines/clip_model.h"
#include "pipelines/pipeline.h"
#include "pipelines/txt2img.h"

namespace diffedit::eval {

namespace {
using config::Json;
namespace tw = data::toyworld;

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::int64_t predict(models::ToyClassifier& classifier, const at::Tensor& images) {
  return classifier->forward(images).argmax(1).item<std::int64_t>();
}

// How often predicted classes match targets: whole class, and its colour and shape separately
// (a class is shape x colour), which tells a model that draws the right colour but not the shape
// from one that draws neither.
struct Agreement {
  std::int64_t n = 0, whole = 0, colour = 0, shape = 0;
  void add(std::int64_t predicted, std::int64_t target) {
    ++n;
    whole += predicted == target;
    colour += tw::colour_of(predicted) == tw::colour_of(target);
    shape += tw::shape_of(predicted) == tw::shape_of(target);
  }
  static double rate(std::int64_t k, std::int64_t n) { return n ? static_cast<double>(k) / static_cast<double>(n) : std::nan(""); }
  double whole_rate() const { return rate(whole, n); }
  double colour_rate() const { return rate(colour, n); }
  double shape_rate() const { return rate(shape, n); }
};

double classifier_accuracy(models::ToyClassifier& classifier, const ToyEvalOptions& o) {
  std::int64_t correct = 0;
  for (std::int64_t start = 0; start < o.classifier_items; start += 100) {
    std::vector<at::Tensor> images;
    std::vector<std::int64_t> labels;
    for (std::int64_t i = start; i < std::min(o.classifier_items, start + 100); ++i) {
      const auto item = tw::generate("test", i, o.world_seed, o.world);
      images.push_back(item.image);
      labels.push_back(item.label);
    }
    const at::Tensor predicted = classifier->forward(at::stack(images)).argmax(1);
    correct += (predicted == at::tensor(labels, at::kLong)).sum().item<std::int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(o.classifier_items);
}

// Class-name prompts cycling through the world's classes, generated in batches of 64 (one seed each).
Agreement t2i_class_agreement(pipelines::StableDiffusion& sd, models::ToyClassifier& classifier, const ToyEvalOptions& o) {
  pipelines::Txt2ImgRequest common;
  common.steps = o.steps;
  common.guidance = o.guidance;
  Agreement agree;
  const std::vector<std::int64_t> classes = tw::classes(o.world);
  for (std::int64_t start = 0; start < o.t2i_prompts; start += 64) {
    std::vector<std::string> prompts;
    std::vector<std::uint64_t> seeds;
    std::vector<std::int64_t> labels;
    for (std::int64_t i = start; i < std::min(o.t2i_prompts, start + 64); ++i) {
      labels.push_back(classes[static_cast<std::size_t>(i % static_cast<std::int64_t>(classes.size()))]);
      prompts.push_back(tw::class_name(labels.back()));
      seeds.push_back(rng::derive_seed(o.seed, "toy-eval/t2i/" + std::to_string(i)));
    }
    const auto results = pipelines::txt2img_batch(sd, prompts, seeds, common);
    std::vector<at::Tensor> images;
    for (const auto& r : results) images.push_back(r.image);
    const at::Tensor predicted = classifier->forward(at::stack(images)).argmax(1);
    for (std::size_t k = 0; k < labels.size(); ++k) agree.add(predicted[static_cast<std::int64_t>(k)].item<std::int64_t>(), labels[k]);
  }
  return agree;
}

// Image -> caption retrieval among the 100 captions of each block of 100 test items; a hit when
// the best caption is the item's own (or a caption with the same text).
double clip_top1_of_100(pipelines::ClipModel& clip, const ToyEvalOptions& o) {
  std::int64_t hits = 0, n = 0;
  for (std::int64_t start = 0; start + 100 <= std::max<std::int64_t>(o.clip_queries, 100); start += 100) {
    std::vector<at::Tensor> images;
    std::vector<std::string> captions;
    for (std::int64_t i = start; i < start + 100; ++i) {
      const auto item = tw::generate("test", i, o.world_seed, o.world);
      images.push_back(item.image);
      captions.push_back(item.caption);
    }
    const at::Tensor best = metrics::cosine_matrix(clip.image_embeds(at::stack(images)), clip.text_embeds(captions)).argmax(1);
    for (std::int64_t i = 0; i < 100; ++i, ++n)
      hits += captions[static_cast<std::size_t>(best[i].item<std::int64_t>())] == captions[static_cast<std::size_t>(i)];
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

// Shape retention at one noise level: SDEdit at the level's strength under each test image's own
// class name, guidance 1. `walk`: how often the classifier still finds the input's class (and its
// colour and shape) in the reconstruction. `one_step`: the same, judged on the denoiser's one-step
// estimate of x0 from the same noisy latents, which tells what the network alone knows of the
// outline from what the sampler's later steps add or lose.
struct Retention {
  Agreement walk, one_step;
};
Retention retention(pipelines::StableDiffusion& sd, models::ToyClassifier& classifier, const StrengthForSigma& level,
                    const ToyEvalOptions& o) {
  torch::NoGradGuard no_grad;
  auto method = editing::make_method("sdedit", {{"strength", level.strength}, {"steps", o.steps}, {"guidance", 1.0}}, "toy-eval");
  diffusion::DDIMScheduler ddim(sd.scheduler);
  const float alpha_bar = ddim.schedule().alphas_cumprod[level.timestep].item<float>();
  Retention r;
  for (std::int64_t i = 0; i < o.retention_items; ++i) {
    const auto item = tw::generate("test", i, o.world_seed, o.world);
    editing::EditRequest request;
    request.image = item.image.unsqueeze(0);
    request.query = request.reference = tw::class_name(item.label);
    request.seed = rng::derive_seed(o.seed, "toy-eval/retention/" + std::to_string(i));
    editing::SeededNoise noise(request.seed);
    const std::int64_t walked = predict(classifier, method->edit(sd, request, noise).image.to(at::kCPU));
    r.walk.add(walked, item.label);
    if (level.strength == 0) {  // no level at or below sigma: both return the input
      r.one_step.add(walked, item.label);
      continue;
    }
    // SDEdit's draws replayed: the posterior mode takes none, then the noise of the first level.
    editing::SeededNoise replay(request.seed);
    const at::Tensor x0 = editing::image_latents(sd, request.image, false, replay);
    const at::Tensor xt = ddim.add_noise(x0, replay.randn(x0.sizes()).to(x0.device()), {level.timestep});
    const auto texts = editing::encode_texts(sd, request.query, request.reference);
    const at::Tensor out = sd.denoiser.guided(xt, level.timestep, texts.query, texts.empty, 1.0);
    r.one_step.add(predict(classifier, sd.decode(diffusion::predict(sd.scheduler, out, xt, alpha_bar).x0).to(at::kCPU)), item.label);
  }
  return r;
}

// How far apart the generator's text encoder puts class names that differ in one attribute: the
// mean L2 distance between prompt embeddings ([77, D], what the UNet attends to) over the pairs of
// class names that differ only in shape, over those that differ only in colour, and the two shapes
// whose names lie closest (averaged over colours). The text cannot steer the generator, or make
// DiffEdit's mask, between two shapes it barely tells apart.
Json text_separation(pipelines::StableDiffusion& sd, const tw::WorldSpec& world) {
  const auto& shapes = world.shapes;
  const auto& colours = world.colours;
  std::vector<std::string> names;
  for (std::int64_t c = 0; c < tw::num_classes(); ++c) names.push_back(tw::class_name(c));
  const at::Tensor e = sd.encode_prompts(names).to(at::kCPU, at::kDouble).flatten(1);
  const at::Tensor d = at::cdist(e.unsqueeze(0), e.unsqueeze(0))[0];
  auto dist = [&](std::int64_t a, std::int64_t b) { return d[a][b].item<double>(); };
  double shape_sum = 0, colour_sum = 0, closest = std::numeric_limits<double>::infinity();
  std::int64_t shape_pairs = 0, colour_pairs = 0;
  std::string closest_pair;
  Json per_pair = Json::object();
  for (std::size_t i = 0; i < shapes.size(); ++i)
    for (std::size_t j = i + 1; j < shapes.size(); ++j) {
      double sum = 0;
      for (const auto c : colours) sum += dist(tw::class_of(shapes[i], c), tw::class_of(shapes[j], c));
      shape_sum += sum;
      shape_pairs += static_cast<std::int64_t>(colours.size());
      const double mean = sum / static_cast<double>(colours.size());
      const std::string name =
          tw::shape_names()[static_cast<std::size_t>(shapes[i])] + "/" + tw::shape_names()[static_cast<std::size_t>(shapes[j])];
      per_pair[name] = mean;
      if (mean < closest) {
        closest = mean;
        closest_pair = name;
      }
    }
  for (std::size_t i = 0; i < colours.size(); ++i)
    for (std::size_t j = i + 1; j < colours.size(); ++j)
      for (const auto shape : shapes) {
        colour_sum += dist(tw::class_of(shape, colours[i]), tw::class_of(shape, colours[j]));
        ++colour_pairs;
      }
  return {{"text_shape_distance", shape_sum / static_cast<double>(shape_pairs)},
          {"text_colour_distance", colour_sum / static_cast<double>(colour_pairs)},
          {"text_closest_shapes", closest_pair},
          {"text_closest_shapes_distance", closest},
          {"text_shape_pair_distances", per_pair}};
}

}  // namespace

StrengthForSigma strength_for_sigma(const diffusion::SchedulerConfig& scheduler, std::int64_t steps, double sigma) {
  diffusion::DDIMScheduler ddim(scheduler);
  ddim.set_timesteps(steps);
  const auto& descending = ddim.timesteps();
  const at::Tensor alpha_bar = ddim.schedule().alphas_cumprod.to(at::kDouble);
  const auto n = static_cast<std::int64_t>(descending.size());
  for (std::int64_t k = 0; k < n; ++k) {
    const double a = alpha_bar[descending[static_cast<std::size_t>(k)]].item<double>();
    // truncate_timesteps starts at index n - int(n * strength); the half step keeps int() off a rounding edge.
    if (std::sqrt((1 - a) / a) <= sigma)
      return {std::min((static_cast<double>(n - k) + 0.5) / static_cast<double>(n), 1.0), descending[static_cast<std::size_t>(k)]};
  }
  return {};
}

bool dominates(const std::vector<TradeoffPoint>& a, const std::vector<TradeoffPoint>& b) {
  if (a.empty()) return false;
  std::vector<TradeoffPoint> sorted = a;
  std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.success < y.success; });
  for (const auto& p : b) {
    double best = -std::numeric_limits<double>::infinity();
    for (const auto& q : sorted)
      if (q.success >= p.success) best = std::max(best, q.psnr_db);
    for (std::size_t i = 0; i + 1 < sorted.size(); ++i) {
      const auto &l = sorted[i], &r = sorted[i + 1];
      if (l.success <= p.success && p.success <= r.success && r.success > l.success)
        best = std::max(best, l.psnr_db + (r.psnr_db - l.psnr_db) * (p.success - l.success) / (r.success - l.success));
    }
    if (best < p.psnr_db) return false;
  }
  return true;
}

namespace {

// The records of one setting (by label and setting name) that finished.
std::vector<const Json*> setting_records(const std::map<std::string, Json>& records, const PlannedSetting& s) {
  std::vector<const Json*> out;
  for (const auto& [key, r] : records)
    if (r.value("status", "") == "ok" && r.value("label", "") == s.label && r.value("setting", "") == s.name) out.push_back(&r);
  return out;
}

double metric_of(const Json& record, const char* key) {
  const Json& m = record["metrics"];
  return m.contains(key) ? m[key].get<double>() : std::nan("");
}

// A setting's trade-off point from its records, aggregated as the runner's summary does
// (mean_metrics): success, its standard error, the unedited PSNR (of the mean MSE), the count.
struct Point {
  double success = std::nan(""), success_se = std::nan(""), psnr_db = std::nan("");
  std::int64_t n = 0;
};
Point point_of(const Json& means, std::int64_t n) {
  Point p;
  p.n = n;
  p.success = means.value("edit_success", std::nan(""));
  p.success_se = binomial_standard_error(p.success, n);
  p.psnr_db = means.value("unedited_psnr_db", std::nan(""));
  return p;
}

}  // namespace

Json edit_bars(const Experiment& e, const std::map<std::string, Json>& records, double strength) {
  const PlannedSetting* main = nullptr;
  for (const auto& s : e.settings)
    if (s.method == "diffedit" && s.parameters["strength"].get<double>() == strength) {
      if (main) throw ConfigError(e.name, "two DiffEdit settings at r = " + Json(strength).dump() + ": the bars need one");
      main = &s;
    }
  if (!main) throw ConfigError(e.name, "no DiffEdit setting at r = " + Json(strength).dump() + " (the bars' point)");

  const auto rs = setting_records(records, *main);
  if (rs.empty()) throw InputError(e.name, "no finished record of DiffEdit at r = " + Json(strength).dump());
  std::vector<double> iou, psnr;
  double evaluations = 0;
  Agreement success;
  for (const Json* r : rs) {
    if (const double v = metric_of(*r, "mask_iou"); std::isfinite(v)) iou.push_back(v);
    psnr.push_back(metrics::psnr_from_mse(metric_of(*r, "unedited_mse")));
    evaluations += (*r)["denoiser_evaluations"].get<double>();
    success.add((*r)["metrics"]["predicted_class"].get<std::int64_t>(), (*r)["target_label"].get<std::int64_t>());
  }
  const double n = static_cast<double>(rs.size());
  const Json means = mean_metrics(rs);
  const Point main_point = point_of(means, static_cast<std::int64_t>(rs.size()));
  Json b = {{"diffedit_mask_iou_median", median(iou)},
            {"diffedit_edit_success", main_point.success},
            {"diffedit_edit_success_se", main_point.success_se},
            {"diffedit_edit_success_colour", success.colour_rate()},
            {"diffedit_edit_success_shape", success.shape_rate()},
            {"diffedit_unedited_psnr_db", main_point.psnr_db},
            {"diffedit_unedited_psnr_db_median_per_image", median(psnr)},
            {"diffedit_target_psnr_db", means.value("target_psnr_db", std::nan(""))},
            {"diffedit_denoiser_evaluations_per_edit", evaluations / n},
            {"diffedit_edits", rs.size()}};

  std::vector<TradeoffPoint> diffedit, sdedit;
  Json sweep = Json::array();
  for (const auto& s : e.settings) {
    if (s.method != "diffedit" && s.method != "sdedit") continue;
    const auto setting = setting_records(records, s);
    if (setting.empty()) continue;
    const Point p = point_of(mean_metrics(setting), static_cast<std::int64_t>(setting.size()));
    const double r = s.parameters["strength"].get<double>();
    (s.method == "diffedit" ? diffedit : sdedit).push_back({r, p.success, p.psnr_db});
    sweep.push_back({{"method", s.method},
                     {"strength", r},
                     {"edit_success", p.success},
                     {"edit_success_se", p.success_se},
                     {"unedited_psnr_db", p.psnr_db},
                     {"edits", p.n}});
  }
  b["diffedit_dominates_sdedit"] = sdedit.empty() ? Json(nullptr) : Json(dominates(diffedit, sdedit));  // null: no SDEdit point
  b["sweep"] = sweep;
  return b;
}

Json run_toy_eval(const ToyEvalOptions& o, const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  torch::NoGradGuard no_grad;
  Json r = {{"classifier_accuracy", nullptr},      {"clip_top1_of_100", nullptr},      {"t2i_class_agreement", nullptr},
            {"diffedit_mask_iou_median", nullptr}, {"diffedit_edit_success", nullptr}, {"diffedit_unedited_psnr_db", nullptr},
            {"diffedit_dominates_sdedit", nullptr}};
  Json pending = Json::object();
  auto classifier = models::load_toy_classifier(o.models / "toy-classifier");
  r["classifier_accuracy"] = classifier_accuracy(classifier, o);
  say("classifier_accuracy " + r["classifier_accuracy"].dump());

  if (std::filesystem::exists(o.models / "toy-clip" / "config.json")) {
    auto clip = pipelines::ClipModel::load(o.models / "toy-clip");
    r["clip_top1_of_100"] = clip_top1_of_100(clip, o);
    say("clip_top1_of_100 " + r["clip_top1_of_100"].dump());
  } else {
    pending["clip_top1_of_100"] = "needs models/toy-clip";
  }

  if (!std::filesystem::exists(o.models / "toy-sd" / "model_index.json")) {
    for (const char* k : {"t2i_class_agreement", "diffedit_mask_iou_median", "diffedit_edit_success", "diffedit_unedited_psnr_db",
                          "diffedit_dominates_sdedit"})
      pending[k] = "needs models/toy-sd";
  } else {
    auto sd = pipelines::StableDiffusion::load(o.models / "toy-sd");
    const Agreement t2i = t2i_class_agreement(sd, classifier, o);
    r["t2i_class_agreement"] = t2i.whole_rate();
    r["t2i_colour_agreement"] = t2i.colour_rate();
    r["t2i_shape_agreement"] = t2i.shape_rate();
    say("t2i_class_agreement " + r["t2i_class_agreement"].dump() + " (colour " + r["t2i_colour_agreement"].dump() + ", shape " +
        r["t2i_shape_agreement"].dump() + ")");
    r.update(text_separation(sd, o.world));
    say("text embedding distance between class names differing in shape " + r["text_shape_distance"].dump() + ", in colour " +
        r["text_colour_distance"].dump() + "; closest shapes " + r["text_closest_shapes"].get<std::string>() + " (" +
        r["text_closest_shapes_distance"].dump() + ")");

    Json kept = Json::array();
    for (const double sigma : o.retention_sigmas) {
      const StrengthForSigma level = strength_for_sigma(sd.scheduler, o.steps, sigma);
      const auto [strength, timestep] = level;
      const auto [a, one] = retention(sd, classifier, level, o);
      kept.push_back({{"sigma", sigma},
                      {"timestep", timestep},
                      {"strength", strength},
                      {"shape", a.shape_rate()},
                      {"colour", a.colour_rate()},
                      {"class", a.whole_rate()},
                      {"images", a.n},
                      {"shape_one_step", one.shape_rate()},
                      {"colour_one_step", one.colour_rate()}});
      say("retention sigma " + Json(sigma).dump() + " (t=" + std::to_string(timestep) + "): shape " + Json(a.shape_rate()).dump() +
          ", colour " + Json(a.colour_rate()).dump() + "; one-step x0: shape " + Json(one.shape_rate()).dump());
    }
    r["retention"] = kept;

    // The edit bars: the experiment through the runner (resumable in o.runs), then read off its records.
    const Experiment e = make_experiment(o.experiment, "toy-eval experiment");
    RunOptions run;
    run.out = o.runs;
    run.quiet = o.quiet;
    run_experiment(e, run);
    RecordStore store(o.runs);
    store.load();
    r.update(edit_bars(e, store.records(), o.strength));
    say("diffedit: iou " + r["diffedit_mask_iou_median"].dump() + ", success " + r["diffedit_edit_success"].dump() + ", unedited psnr " +
        r["diffedit_unedited_psnr_db"].dump() + ", dominates sdedit " + r["diffedit_dominates_sdedit"].dump());
  }
  if (!pending.empty()) r["pending"] = pending;
  r["settings"] = {{"classifier_items", o.classifier_items},
                   {"t2i_prompts", o.t2i_prompts},
                   {"clip_queries", o.clip_queries},
                   {"retention_items", o.retention_items},
                   {"retention_sigmas", o.retention_sigmas},
                   {"strength", o.strength},
                   {"guidance", o.guidance},
                   {"steps", o.steps},
                   {"world", tw::world_to_json(o.world)},
                   {"world_seed", o.world_seed},
                   {"seed", o.seed},
                   {"experiment", o.experiment},
                   {"runs", o.runs.string()}};
  return r;
}

}  // namespace diffedit::eval
