// An experiment: a model, a dataset, methods with parameter grids, seeds and metrics — read from a
// JSON config (with `defaults` includes and `a.b=value` overrides) and expanded into the plan of
// work items (item x seed x setting). See configs/README.md for every key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/datasets.h"
#include "editing/shared_edits.h"

namespace diffedit::eval {

// One point of a method's grid: its validated parameters (defaults filled) and a readable name.
struct PlannedSetting {
  std::string method;        // registry name, e.g. "diffedit"
  std::string label;         // table name of the method, e.g. "DiffEdit" (config `label`, default the method)
  std::string name;          // the grid values, e.g. "strength=0.5,threshold=0.25" ("default" for no grid)
  config::Json parameters;   // everything the method receives
  config::Json grid_values;  // {"strength": 0.5, "threshold": 0.25}
  editing::Setting setting() const { return {method, parameters}; }
};

// A dataset as data/datasets.h opens it (toy or real), `limit` items.
using DatasetSpec = data::DatasetOptions;

struct FeatureNetSpec {
  std::string name;
  std::filesystem::path weights;
};

struct MetricsSpec {
  std::vector<std::string> per_image;  // lpips, clip_score, mask_iou, edit_success, unedited_psnr, unedited_ssim, target_psnr,
                                       // flexit_lpips, flexit_accuracy, piebench, piebench_extra
  std::vector<std::string> set;        // fid, kid, csfid, sfid, csfid_frechet
  std::int64_t flexit_size = 256;      // flexit_lpips: Resize + CenterCrop size
  FeatureNetSpec feature_net;          // features for fid / kid / csfid
  FeatureNetSpec lpips;                // lpips-alex|vgg|squeeze with weights, or toy-classifier (unweighted LPIPS)
  std::filesystem::path clip_model, classifier;
  std::filesystem::path dino;                   // piebench metrics: the structure distance's DINO ViT
  DatasetSpec reference;                        // real images for fid / kid / csfid (same dataset family)
  std::filesystem::path reference_stats;        // or their statistics (metrics stats --by-class): fid, csfid, sfid
  std::vector<std::string> wanted() const;      // per_image, then set
  bool wants(const std::string& metric) const;  // listed in per_image or set
};

struct Experiment {
  config::Json resolved;  // the whole config after includes, overrides and defaults
  std::string name;
  std::filesystem::path model;
  std::string device = "cpu", dtype = "float32";  // where and in what precision the model computes
  std::int64_t decode_batch = 1;                  // DiffEdit-family decodings per denoiser call
  std::int64_t batch_items = 1;                   // items whose decodings are pooled
  DatasetSpec dataset;
  std::vector<std::uint64_t> seeds;
  std::vector<PlannedSetting> settings;
  MetricsSpec metrics;
};

const config::Schema& experiment_schema();

// A results directory's config.json, validated: keys added to the schema since it was written take
// their defaults, so older results still resume, merge and report (ConfigError when it no longer
// validates, naming the file).
config::Json load_run_config(const std::filesystem::path& path);

// The identity of a dataset item in records: "toy-imagenet/test/7" (with "@<world_seed>" when not 0).
std::string item_key(const DatasetSpec& dataset, std::int64_t index);

// Validates and expands; ConfigError naming `source` for unknown methods, bad grids (empty lists,
// unknown parameters, values out of range) and metrics that the dataset cannot support.
Experiment make_experiment(const config::Json& resolved, const std::string& source);

// The plan of an experiment without running it (`diffedit run --dry-run`): the dataset (and its
// toy world), the settings, the record count (items x seeds x settings), and each metric with the
// inputs it needs (network, reference set, ground truth).
config::Json plan_json(const Experiment& e);

}  // namespace diffedit::eval
