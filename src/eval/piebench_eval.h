// PIE-Bench's evaluation (PnP Inversion's evaluation/evaluate.py) as a library: methods' edited
// images in PIE-Bench's output layout scored with its metrics (metrics/piebench_metrics.h) into
// the CSV evaluate.py writes, character for character: so that numbers from this project and from
// the reference can be pooled, diffed and fed to the same spreadsheets. And a run of this
// project's runner written as the same CSV.
//
// The CSV: header `file_id,<method>|<metric>,...` (methods outer, metrics inner, as evaluate.py
// loops), then one row per item of the mapping file in file order (items of other editing types
// left out), each cell Python's str() of the value evaluate.py returns: a Python float (PSNR,
// LPIPS, MSE, SSIM, CLIP similarity; "inf" for the PSNR of identical parts), a 0-d float32 numpy
// array (structure distance), or the string "nan" for a skipped part. Rows end with "\r\n".
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "metrics/piebench_metrics.h"
#include "models/dino_vit.h"

namespace diffedit::eval {

// One method's outputs: <folder>/<image_path> for every item (e.g. output/ddim+p2p/annotation_images).
struct PieBenchMethod {
  std::string name;  // its columns' prefix, e.g. "1_ddim+p2p"
  std::filesystem::path folder;
};

struct PieBenchEvalOptions {
  std::filesystem::path data_root;     // <data_root>/mapping_file.json and <data_root>/annotation_images/
  std::filesystem::path mapping_file;  // empty: <data_root>/mapping_file.json
  std::vector<PieBenchMethod> methods;
  std::vector<std::string> metrics;          // empty: evaluate.py's default --metrics
  std::vector<std::string> edit_categories;  // editing_type_ids to score; empty: "0".."9"
  // A method without an item's image: evaluate.py crashes (Image.open). Default: a FileError
  // naming the file; true: that method's cells of the item are "nan" and a warning names it.
  bool missing_target_as_nan = false;
};

// evaluate.py's default --metrics (PIE-Bench's Table 1), in its order.
std::vector<std::string> piebench_default_metrics();

// `names` checked against evaluate.py's 18 (InputError naming the unknown one, with the nearest
// name; or a repeated one); empty: the default list.
std::vector<std::string> resolve_piebench_metrics(const std::vector<std::string>& names);

// Which networks the metrics need.
struct PieBenchNetworkNeeds {
  bool lpips = false, clip = false, dino = false;
};
PieBenchNetworkNeeds piebench_network_needs(const std::vector<std::string>& metrics);

// The text of a cell: Python's str() of what evaluate.py returns for `spec` (see above).
std::string piebench_cell(const metrics::PieBenchMetric& spec, const metrics::PieBenchValue& value);

// The structure-distance callback on a DINO model, as the runner builds it: both images'
// 0..255 values (CHW float32) times the part's mask, on the model's device.
metrics::PieBenchStructureDistance piebench_structure_distance(models::DinoVit dino);

// Runs the evaluation, writing the CSV to `out` a row at a time (as evaluate.py appends them).
// Sources are read from annotation_images/, targets cropped as evaluate.py crops them, masks
// decoded at the source's size (512 x 512 for PIE-Bench, as evaluate.py; other sizes, where the
// reference fails, keep the flat index). InputError for no method, a repeated method name (the
// reference keeps them in a dict: the last would win) or metrics whose network is absent; file
// and format errors name the file; a target of another size than its source is an InputError
// naming it.
void evaluate_piebench(const PieBenchEvalOptions& options, const metrics::PieBenchNetworks& networks, std::ostream& out);
// The same, returned as text.
std::string evaluate_piebench(const PieBenchEvalOptions& options, const metrics::PieBenchNetworks& networks);

// A results directory of the runner (<run>/records/*.json) as evaluate.py's CSV. Columns:
// "<label>/<setting>" per setting (with several seeds, one column group per seed:
// "<label>/<setting>/seed<S>"), sorted by label, setting and seed (records do not keep the config's
// order); rows: the records' "item_id" (PIE-Bench's key; "item" where absent), ordered by
// "item_index"; two records of one item, setting and seed are a FormatError naming both. Metrics:
// `metrics` (checked as resolve_piebench_metrics does), or, when empty, every evaluate.py metric
// some record holds as "pie_<name>", in evaluate.py's order; InputError when there is none. A cell
// is "nan" where the record lacks the value (the part was skipped), the record failed or there is
// no record; a PSNR the runner capped at metrics::kMaxPsnrDb (its JSON stand-in for +inf) is
// "inf" again.
std::string piebench_csv_of_run(const std::filesystem::path& run_dir, const std::vector<std::string>& metrics = {});

}  // namespace diffedit::eval
