#include "eval/piebench_eval.h"

#include <ATen/ATen.h>
#include <torch/nn.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/piebench.h"
#include "eval/python_format.h"
#include "metrics/structure_distance.h"

namespace diffedit::eval {

namespace m = metrics;

namespace {

constexpr const char* kSource = "piebench score";

std::string shape_text(const at::Tensor& u8) { return std::to_string(u8.size(0)) + "x" + std::to_string(u8.size(1)); }

void check_methods(const std::vector<PieBenchMethod>& methods) {
  if (methods.empty()) throw InputError(kSource, "no method to score");
  std::set<std::string> names;
  for (const auto& method : methods) {
    if (method.name.empty()) throw InputError(kSource, "a method without a name (its columns' prefix)");
    // evaluate.py keeps the methods in a dict: a repeated name would silently keep the last folder.
    if (!names.insert(method.name).second) throw InputError(kSource, "method '" + method.name + "' is given twice");
    if (!std::filesystem::is_directory(method.folder))
      throw FileError(method.folder.string(), "not a directory (the outputs of method '" + method.name + "')");
  }
}

std::vector<std::string> checked_categories(const std::vector<std::string>& categories) {
  if (categories.empty()) return data::all_editing_type_ids();
  // evaluate.py compares the ids as strings, so a typo silently selects nothing: refuse it.
  const auto ids = data::all_editing_type_ids();
  for (const auto& id : categories)
    if (std::find(ids.begin(), ids.end(), id) == ids.end())
      throw InputError("categories", "'" + id + "' is not a PIE-Bench editing_type_id (\"0\"..\"9\")");
  return categories;
}

void check_networks(const std::vector<std::string>& metric_names, const m::PieBenchNetworks& networks) {
  for (const auto& name : metric_names) {
    const auto kind = m::piebench_metric_spec(name).kind;
    const char* missing = kind == m::PieBenchKind::lpips && !networks.lpips                             ? "an LPIPS network (lpips-squeeze)"
                          : kind == m::PieBenchKind::clip_similarity && !networks.clip                  ? "a CLIP model"
                          : kind == m::PieBenchKind::structure_distance && !networks.structure_distance ? "a DINO model"
                                                                                                        : nullptr;
    if (missing) throw InputError(kSource, "metric " + name + " needs " + missing);
  }
}

}  // namespace

std::vector<std::string> piebench_default_metrics() {
  std::vector<std::string> names;
  for (const auto& spec : m::kPieBenchMetrics)
    if (spec.by_default) names.emplace_back(spec.name);
  return names;
}

std::vector<std::string> resolve_piebench_metrics(const std::vector<std::string>& names) {
  if (names.empty()) return piebench_default_metrics();
  std::vector<std::string> known;
  for (const auto& spec : m::kPieBenchMetrics) known.emplace_back(spec.name);
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      const auto near = config::near_keys(name, known);
      throw InputError("metrics",
                       "unknown PIE-Bench metric '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near.front() + "'?)"));
    }
    if (!seen.insert(name).second) throw InputError("metrics", "metric '" + name + "' is listed twice");
  }
  return names;
}

PieBenchNetworkNeeds piebench_network_needs(const std::vector<std::string>& metric_names) {
  PieBenchNetworkNeeds needs;
  for (const auto& name : metric_names) {
    const auto kind = m::piebench_metric_spec(name).kind;
    needs.lpips |= kind == m::PieBenchKind::lpips;
    needs.clip |= kind == m::PieBenchKind::clip_similarity;
    needs.dino |= kind == m::PieBenchKind::structure_distance;
  }
  return needs;
}

std::string piebench_cell(const m::PieBenchMetric& spec, const m::PieBenchValue& value) {
  if (value.is_skipped()) return "nan";  // calculate_metric's string "nan"
  // calculate_structure_distance returns the loss tensor's .numpy(): a 0-d float32 array (the value
  // is that float32, widened); the others return .item() of a float32 tensor: a Python float.
  if (spec.kind == m::PieBenchKind::structure_distance) return numpy_float32_str(static_cast<float>(value.value()));
  return python_float_repr(value.value());
}

m::PieBenchStructureDistance piebench_structure_distance(models::DinoVit dino) {
  return [dino](const at::Tensor& a_u8, const at::Tensor& b_u8, const at::Tensor& part_mask) mutable {
    const at::Device device = dino->parameters().front().device();
    // np.array(image).astype(float32) * mask: 0..255 values (metrics/structure_distance.h).
    at::Tensor a = a_u8.permute({2, 0, 1}).to(at::kFloat), b = b_u8.permute({2, 0, 1}).to(at::kFloat);
    if (part_mask.defined()) a = a * part_mask, b = b * part_mask;
    return m::structure_distance(dino, a.to(device), b.to(device));
  };
}

void evaluate_piebench(const PieBenchEvalOptions& o, const m::PieBenchNetworks& networks, std::ostream& out) {
  check_methods(o.methods);
  const std::vector<std::string> metric_names = resolve_piebench_metrics(o.metrics);
  check_networks(metric_names, networks);
  const std::filesystem::path mapping = o.mapping_file.empty() ? o.data_root / "mapping_file.json" : o.mapping_file;
  const std::vector<data::PieBenchItem> items = data::read_mapping_file(mapping, checked_categories(o.edit_categories));

  std::vector<std::string> header = {"file_id"};
  for (const auto& method : o.methods)
    for (const auto& name : metric_names) header.push_back(method.name + "|" + name);
  out << python_csv_row(header) << std::flush;

  torch::NoGradGuard no_grad;
  Progress progress("piebench", static_cast<std::int64_t>(items.size()));
  for (const auto& item : items) {
    const at::Tensor src = data::load_source(o.data_root, item);
    const at::Tensor mask = data::mask_decode(item.mask, src.size(0), src.size(1), mapping.string() + ": " + item.key);
    const std::string original = data::clean_prompt(item.original_prompt), editing = data::clean_prompt(item.editing_prompt);
    std::vector<std::string> row = {item.key};
    for (const auto& method : o.methods) {
      const std::filesystem::path path = method.folder / item.image_path;
      if (!std::filesystem::exists(path)) {
        if (!o.missing_target_as_nan)
          throw FileError(path.string(), "missing: method '" + method.name + "' has no output for item " + item.key +
                                             " (evaluate.py stops here too; --missing-as-nan writes nan instead)");
        log::warn(path.string(), ": missing, method '", method.name, "' item ", item.key, ": its cells are nan");
        row.insert(row.end(), metric_names.size(), "nan");
        continue;
      }
      const at::Tensor tgt = data::load_target(method.folder, item);
      if (tgt.sizes() != src.sizes())
        throw InputError(path.string(),
                         "is " + shape_text(tgt) + " (after evaluate.py's crop of non-square outputs), its source " + shape_text(src));
      for (const auto& name : metric_names)
        row.push_back(piebench_cell(m::piebench_metric_spec(name), m::piebench_metric(name, src, tgt, mask, original, editing, networks)));
    }
    out << python_csv_row(row) << std::flush;
    progress.advance();
  }
}

std::string evaluate_piebench(const PieBenchEvalOptions& options, const m::PieBenchNetworks& networks) {
  std::ostringstream out;
  evaluate_piebench(options, networks, out);
  return out.str();
}

}  // namespace diffedit::eval
