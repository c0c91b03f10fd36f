// A runner's results directory as PIE-Bench's evaluate.py CSV (eval/piebench_eval.h).
#include <algorithm>
#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <set>

#include "core/errors.h"
#include "eval/piebench_eval.h"
#include "eval/python_format.h"
#include "eval/record_store.h"
#include "metrics/region.h"

namespace diffedit::eval {

namespace m = metrics;
using config::Json;

namespace {

struct Column {
  std::string label, setting;
  std::uint64_t seed = 0;
  auto operator<=>(const Column&) const = default;
};

std::string text_field(const Json& r, const char* name, const std::string& where) {
  if (!r.contains(name) || !r[name].is_string()) throw FormatError(where, std::string("no string field '") + name + "'");
  return r[name].get<std::string>();
}

// The metrics the CSV lists: `wanted`, or every evaluate.py metric some successful record holds.
std::vector<std::string> run_metrics(const std::map<std::string, Json>& records, const std::vector<std::string>& wanted,
                                     const std::filesystem::path& run_dir) {
  if (!wanted.empty()) return resolve_piebench_metrics(wanted);
  std::vector<std::string> found;
  for (const auto& spec : m::kPieBenchMetrics) {
    const std::string key = "pie_" + std::string(spec.name);
    for (const auto& [_, r] : records)
      if (r.value("status", "") == "ok" && r.contains("metrics") && r["metrics"].contains(key)) {
        found.emplace_back(spec.name);
        break;
      }
  }
  if (found.empty())
    throw InputError(run_dir.string(), "no record holds a PIE-Bench metric (pie_*): run with the metric piebench (and piebench_extra)");
  return found;
}

// The cell of one record: "nan" for a failed record or a skipped part; a capped PSNR is +inf again.
std::string record_cell(const Json* record, const m::PieBenchMetric& spec) {
  if (!record || record->value("status", "") != "ok" || !record->contains("metrics")) return "nan";
  const Json& metrics = (*record)["metrics"];
  const auto it = metrics.find("pie_" + std::string(spec.name));
  if (it == metrics.end() || !it->is_number()) return "nan";  // absent: skipped ("nan" there); null: a JSON NaN
  const double value = it->get<double>();
  if (spec.kind == m::PieBenchKind::psnr && value == m::kMaxPsnrDb) return "inf";
  return piebench_cell(spec, m::PieBenchValue::computed(value));
}

}  // namespace

std::string piebench_csv_of_run(const std::filesystem::path& run_dir, const std::vector<std::string>& wanted) {
  if (!std::filesystem::is_directory(run_dir / "records"))
    throw FileError(run_dir.string(), "no records/ directory: not a results directory of `diffedit run`");
  RecordStore store(run_dir);
  store.load();
  if (store.records().empty()) throw InputError(run_dir.string(), "no records");
  const std::vector<std::string> metric_names = run_metrics(store.records(), wanted, run_dir);

  // Rows by (item_index, id); cells by (id, column).
  std::map<std::string, std::int64_t> item_index;
  std::map<std::pair<std::string, std::string>, std::set<std::uint64_t>> seeds;  // (label, setting) -> seeds
  std::map<std::pair<std::string, Column>, const Json*> cells;
  for (const auto& [key, r] : store.records()) {
    const std::string where = (run_dir / "records" / (key + ".json")).string();
    const std::string id =
        r.contains("item_id") && r["item_id"].is_string() ? r["item_id"].get<std::string>() : text_field(r, "item", where);
    const Column column{text_field(r, "label", where), text_field(r, "setting", where), r.value("seed", std::uint64_t{0})};
    const std::int64_t index = r.value("item_index", std::numeric_limits<std::int64_t>::max());
    const auto [at, added] = item_index.emplace(id, index);
    if (!added) at->second = std::min(at->second, index);
    seeds[{column.label, column.setting}].insert(column.seed);
    const auto [cell, fresh] = cells.emplace(std::pair{id, column}, &r);
    if (!fresh)
      throw FormatError(where, "a second record of item " + id + ", " + column.label + "/" + column.setting + ", seed " +
                                   std::to_string(column.seed) + " (the first: " + (*cell->second)["key"].get<std::string>() + ")");
  }

  std::vector<Column> columns;
  std::vector<std::string> header = {"file_id"};
  for (const auto& [setting, seed_set] : seeds)
    for (const std::uint64_t seed : seed_set) {
      columns.push_back({setting.first, setting.second, seed});
      const std::string name = setting.first + "/" + setting.second + (seed_set.size() > 1 ? "/seed" + std::to_string(seed) : "");
      for (const auto& metric : metric_names) header.push_back(name + "|" + metric);
    }

  std::vector<std::pair<std::int64_t, std::string>> rows;
  for (const auto& [id, index] : item_index) rows.emplace_back(index, id);
  std::sort(rows.begin(), rows.end());

  std::string csv = python_csv_row(header);
  for (const auto& [_, id] : rows) {
    std::vector<std::string> row = {id};
    for (const Column& column : columns) {
      const auto it = cells.find({id, column});
      const Json* record = it == cells.end() ? nullptr : it->second;
      for (const auto& metric : metric_names) row.push_back(record_cell(record, m::piebench_metric_spec(metric)));
    }
    csv += python_csv_row(row);
  }
  return csv;
}

}  // namespace diffedit::eval
