#include "eval/experiment.h"

#include <algorithm>
#include <set>

#include "core/device.h"
#include "core/errors.h"
#include "data/toyworld_presets.h"
#include "editing/method.h"
#include "editing/shared_edits.h"
#include "eval/metric_registry.h"

namespace diffedit::eval {

namespace {

using config::Json;
using config::Schema;

Schema dataset_schema() {
  return Schema::object({
      {"name", Schema::string().choices(data::dataset_names()).required()},
      {"split", Schema::string().choices({"train", "val", "test", "dev"}).def("test")},
      {"limit", Schema::integer().range(1, std::nullopt).required().doc("number of items (the first ones)")},
      {"world", Schema::any().nullable().def(nullptr).doc("toy datasets: a preset name (basic, full) or {\"preset\": ..., changes}; "
                                                          "unset: the shipped models' world (the main dataset), the dataset's world "
                                                          "(metrics.reference)")},
      {"world_seed", Schema::integer().range(0, std::nullopt).def(0).doc("toy datasets")},
      {"root", Schema::string().def("").doc("real datasets: the image folder (piebench: the folder of mapping_file.json)")},
      {"annotations",
       Schema::string().def("").doc(
           "queries.csv, the BISON json, the Imagen pair list or PIE-Bench's mapping file (default <root>/mapping_file.json); "
           "coco-images: the BISON json whose images it leaves out")},
      {"captions", Schema::string().def("").doc("coco-bison, coco-images: captions_val2014.json")},
      {"image_size", Schema::integer().range(8, 4096).def(512).doc("real images but piebench's: Resize + CenterCrop to this size")},
      {"reference", Schema::string().choices({"default", "none", "source", "caption"}).def("default")},
      {"max_changed_words", Schema::number().range(0, 1).def(1.0).doc("coco-bison: keep queries changing less than this share")},
  });
}

Schema net_schema() { return Schema::object({{"name", Schema::string().required()}, {"weights", Schema::string().required()}}); }

// A grid value in a setting name: strings bare, numbers as JSON writes them ("0.5", "1.0", "4").
std::string format_value(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// ConfigError naming `source` for a wanted metric whose inputs (the registry's needs) the config lacks.
void check_metric_inputs(const MetricsSpec& spec, const std::string& source) {
  if (!spec.reference_stats.empty() && !spec.reference.name.empty())
    throw ConfigError(source, "metrics: give reference or reference_stats, not both");
  for (const auto& name : spec.wanted()) {
    const MetricNeeds& n = find_metric(name).needs;
    const auto missing = [&](const std::string& what) { throw ConfigError(source, "metrics " + name + " needs " + what); };
    if (n.lpips && spec.lpips.name.empty()) missing("metrics.lpips");
    if (n.clip && spec.clip_model.empty()) missing("metrics.clip_model");
    if (n.classifier && spec.classifier.empty()) missing("metrics.classifier");
    if (n.dino && spec.dino.empty()) missing("metrics.dino");
    if (n.feature_net && (spec.feature_net.name.empty() || (spec.reference.name.empty() && spec.reference_stats.empty())))
      throw ConfigError(source, "metrics.set needs metrics.feature_net and metrics.reference (or metrics.reference_stats)");
    if (n.reference_images && !spec.reference_stats.empty()) missing("reference images (metrics.reference), not statistics");
  }
}

}  // namespace

const Schema& experiment_schema() {
  static const Schema schema = Schema::object({
      {"name", Schema::string().required()},
      {"description", Schema::string().def("")},
      {"assumptions", Schema::array(Schema::string()).def(Json::array()).doc("settings the paper leaves open, stated")},
      {"model", Schema::string().required().doc("diffusers-layout model directory")},
      {"dataset", dataset_schema().required()},
      {"steps", Schema::integer().range(1, 1000).def(50)},
      {"guidance", Schema::number().range(0, std::nullopt).def(7.5)},
      {"device",
       Schema::string().def("cpu").doc("where the model and the metrics' networks compute: cpu or cuda[:N] (diffedit run --device)")},
      {"decode_batch",
       Schema::integer().range(1, 4096).def(1).doc("DiffEdit-family decodings of one input per denoiser call (1: each alone, bit-identical "
                                                   "to a standalone edit; more: faster, equal up to float rounding)")},
      {"batch_items",
       Schema::integer().range(1, 4096).def(1).doc(
           "items whose DiffEdit-family decodings are pooled, decode_batch per denoiser call (needs decode_batch > 1; masks and "
           "inversions still run per item)")},
      {"dtype", Schema::string()
                    .choices({"float32", "float16", "bfloat16"})
                    .def("float32")
                    .doc("the model's weights and activations (diffedit run --dtype; float16 needs CUDA)")},
      {"seeds", Schema::array(Schema::integer().range(0, std::nullopt)).non_empty().def(Json::array({0}))},
      {"method_defaults", Schema::map(Schema::map(Schema::any()))
                              .def(Json::object())
                              .doc("per method name, parameters every setting of that method starts from (a method's own "
                                   "parameters and grid override them), e.g. a model's calibrated DiffEdit mask_strength")},
      {"methods", Schema::array(Schema::object({
                                    {"method", Schema::string().required()},
                                    {"label", Schema::string().nullable().def(nullptr)},
                                    {"grid", Schema::map(Schema::array(Schema::any()).non_empty()).def(Json::object())},
                                    {"parameters", Schema::map(Schema::any()).def(Json::object())},
                                }))
                      .non_empty()
                      .required()},
      {"metrics",
       Schema::object({
           {"per_image", Schema::array(Schema::string().choices(metric_names(MetricKind::per_image))).def(Json::array())},
           {"set", Schema::array(Schema::string().choices(metric_names(MetricKind::set))).def(Json::array())},
           {"feature_net", net_schema().nullable().def(nullptr)},
           {"lpips", net_schema().nullable().def(nullptr)},
           {"clip_model", Schema::string().nullable().def(nullptr)},
           {"classifier", Schema::string().nullable().def(nullptr)},
           {"dino", Schema::string().nullable().def(nullptr).doc(
                        "a DINO ViT directory (config.json, model.safetensors): PIE-Bench's structure distance")},
           {"reference", dataset_schema().nullable().def(nullptr)},
           {"reference_stats", Schema::string().nullable().def(nullptr).doc(
                                   "HDF5 from `metrics stats --by-class` (e.g. ImageNet train), instead of reference")},
           {"flexit_size", Schema::integer().range(1, 4096).def(256).doc("flexit_lpips: Resize + CenterCrop size (FlexIT: 256)")},
       })},  // absent: every field's default
  });
  return schema;
}

std::vector<std::string> MetricsSpec::wanted() const {
  std::vector<std::string> names = per_image;
  names.insert(names.end(), set.begin(), set.end());
  return names;
}

bool MetricsSpec::wants(const std::string& metric) const {
  const auto names = wanted();
  return std::find(names.begin(), names.end(), metric) != names.end();
}

config::Json load_run_config(const std::filesystem::path& path) {
  return experiment_schema().validate(config::load_json(path), path.string());
}

std::string item_key(const DatasetSpec& d, std::int64_t index) {
  return d.name + "/" + d.split + "/" + std::to_string(index) + (d.world_seed ? "@" + std::to_string(d.world_seed) : "");
}

Experiment make_experiment(const Json& c, const std::string& source) {
  Experiment e;
  e.resolved = c;
  e.name = c["name"];
  e.model = c["model"].get<std::string>();
  e.device = c["device"].get<std::string>();
  e.dtype = c["dtype"].get<std::string>();
  e.decode_batch = c["decode_batch"].get<std::int64_t>();
  e.batch_items = c["batch_items"].get<std::int64_t>();
  if (e.batch_items > 1 && e.decode_batch == 1)
    throw ConfigError(source, "batch_items: " + std::to_string(e.batch_items) +
                                  " items are pooled only into batched decodings; set decode_batch above 1 (e.g. 8 per item)");
  try {
    parse_device_name(e.device, "device");  // whether this machine has it is checked when a run starts
  } catch (const InputError& err) {
    throw ConfigError(source, "device: " + err.problem());
  }
  auto dataset = [&source](const Json& d, const data::toyworld::WorldSpec& default_world) {
    DatasetSpec s;
    s.name = d["name"];
    s.split = d["split"];
    s.limit = d["limit"];
    s.world_seed = d["world_seed"];
    s.world = d["world"].is_null() ? default_world : data::toyworld::world_from_json(d["world"], source + ": world");
    s.root = d["root"].get<std::string>();
    s.annotations = d["annotations"].get<std::string>();
    s.captions = d["captions"].get<std::string>();
    s.image_size = d["image_size"];
    s.reference = d["reference"];
    s.max_changed_words = d["max_changed_words"];
    return s;
  };
  e.dataset = dataset(c["dataset"], data::toyworld::preset(data::toyworld::kDefaultPreset));
  if (e.dataset.name == "coco-images")
    throw ConfigError(source, "dataset: coco-images is a reference set without edit queries (use it as metrics.reference)");
  for (const auto& s : c["seeds"]) e.seeds.push_back(s.get<std::uint64_t>());
  if (std::set<std::uint64_t>(e.seeds.begin(), e.seeds.end()).size() != e.seeds.size()) throw ConfigError(source, "seeds: repeated seed");

  std::set<std::string> names;
  for (std::size_t m = 0; m < c["methods"].size(); ++m) {
    const Json& spec = c["methods"][m];
    const std::string where = source + ": methods[" + std::to_string(m) + "]";
    const std::string method = spec["method"];
    const std::string label = spec["label"].is_string() ? spec["label"].get<std::string>() : method;
    // Cartesian product of the grid, keys in sorted order (nlohmann objects iterate sorted).
    std::vector<Json> points = {Json::object()};
    for (const auto& [key, values] : spec["grid"].items()) {
      std::vector<Json> next;
      for (const Json& p : points)
        for (const Json& v : values) {
          Json q = p;
          q[key] = v;
          next.push_back(q);
        }
      points = std::move(next);
    }
    for (const Json& point : points) {
      Json p = Json::object();  // the experiment's sampler settings, for the methods that take them
      for (const char* key : {"steps", "guidance"})
        if (editing::method_has_parameter(method, key)) p[key] = c[key];
      if (c["method_defaults"].contains(method)) p.update(c["method_defaults"][method]);
      p.update(spec["parameters"]);
      p.update(point);
      PlannedSetting s;
      s.method = method;
      s.label = label;
      s.grid_values = point;
      for (const auto& [k, v] : point.items()) s.name += (s.name.empty() ? "" : ",") + k + "=" + format_value(v);
      if (s.name.empty()) s.name = "default";
      s.parameters = editing::make_method(method, p, where)->parameters();
      if (!names.insert(label + "/" + s.name).second)
        throw ConfigError(where, "setting " + label + "/" + s.name + " appears twice (give the method another label)");
      e.settings.push_back(std::move(s));
    }
  }

  const Json& m = c["metrics"];
  for (const auto& x : m["per_image"]) e.metrics.per_image.push_back(x);
  for (const auto& x : m["set"]) e.metrics.set.push_back(x);
  auto net = [](const Json& j) { return j.is_null() ? FeatureNetSpec{} : FeatureNetSpec{j["name"], j["weights"].get<std::string>()}; };
  e.metrics.feature_net = net(m["feature_net"]);
  e.metrics.lpips = net(m["lpips"]);
  if (m["clip_model"].is_string()) e.metrics.clip_model = m["clip_model"].get<std::string>();
  if (m["classifier"].is_string()) e.metrics.classifier = m["classifier"].get<std::string>();
  if (m["dino"].is_string()) e.metrics.dino = m["dino"].get<std::string>();
  if (m["reference"].is_object()) e.metrics.reference = dataset(m["reference"], e.dataset.world);
  if (m["reference_stats"].is_string()) e.metrics.reference_stats = m["reference_stats"].get<std::string>();
  e.metrics.flexit_size = m["flexit_size"];
  if (!e.metrics.reference_stats.empty() && !e.metrics.reference.name.empty())
    throw ConfigError(source, "metrics: give reference or reference_stats, not both");
  check_metric_inputs(e.metrics, source);
  return e;
}

Json plan_json(const Experiment& e) {
  Json settings = Json::array();
  for (const auto& s : e.settings) settings.push_back({{"label", s.label}, {"setting", s.name}, {"method", s.method}});
  const auto path = [](const std::filesystem::path& p) { return p.empty() ? Json(nullptr) : Json(p.string()); };
  const Json reference =
      !e.metrics.reference_stats.empty() ? Json{{"stats", e.metrics.reference_stats.string()}}
      : !e.metrics.reference.name.empty()
          ? Json{{"dataset", e.metrics.reference.name}, {"split", e.metrics.reference.split}, {"limit", e.metrics.reference.limit}}
          : Json(nullptr);
  // What each metric reads besides the edited image (the registry's needs).
  Json metrics = Json::object();
  for (const auto& name : e.metrics.wanted()) {
    const MetricNeeds& n = find_metric(name).needs;
    Json j = Json::object();
    if (n.lpips) j.update({{"network", e.metrics.lpips.name}, {"weights", path(e.metrics.lpips.weights)}});
    if (n.clip) j["clip_model"] = path(e.metrics.clip_model);
    if (n.classifier) j["classifier"] = path(e.metrics.classifier);
    if (n.dino) j["dino"] = path(e.metrics.dino);
    if (n.feature_net)
      j.update({{"network", e.metrics.feature_net.name}, {"weights", path(e.metrics.feature_net.weights)}, {"reference", reference}});
    if (!n.ground_truth.empty()) j["ground_truth"] = n.ground_truth;
    if (!n.compares.empty()) j["compares"] = n.compares;
    metrics[name] = j;
  }
  const std::int64_t inputs = static_cast<std::int64_t>(e.dataset.limit) * static_cast<std::int64_t>(e.seeds.size());
  const std::int64_t records = inputs * static_cast<std::int64_t>(e.settings.size());
  // Predicted UNet evaluations (the same for every input): with the sharing the runner does, and
  // if every setting ran alone.
  std::vector<editing::Setting> plain;
  for (const auto& s : e.settings) plain.push_back(s.setting());
  std::int64_t done = 0, alone = 0;
  Json by_stage = Json::object();
  for (const auto& [stage, v] : editing::estimate_evaluations(plain)) {
    by_stage[stage] = {{"done", v.done}, {"if_independent", v.if_independent}};
    done += v.done;
    alone += v.if_independent;
  }
  const Json evaluations = {{"per_input", {{"done", done}, {"if_independent", alone}, {"by_stage", by_stage}}},
                            {"total", done * inputs},
                            {"total_if_independent", alone * inputs},
                            {"sharing_ratio", alone > 0 ? static_cast<double>(done) / static_cast<double>(alone) : 1.0}};
  return {{"name", e.name},
          {"model", e.model.string()},
          {"device", e.device},
          {"dtype", e.dtype},
          {"dataset",
           {{"name", e.dataset.name},
            {"split", e.dataset.split},
            {"limit", e.dataset.limit},
            {"world", data::is_toy_dataset(e.dataset.name) ? data::toyworld::world_to_json(e.dataset.world) : Json(nullptr)}}},
          {"seeds", e.seeds},
          {"settings", settings},
          {"records", records},
          {"denoiser_evaluations", evaluations},
          {"metrics", metrics}};
}

}  // namespace diffedit::eval
