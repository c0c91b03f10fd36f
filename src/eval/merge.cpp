#include "eval/merge.h"

#include <optional>

#include "core/errors.h"
#include "core/fs.h"
#include "eval/record_store.h"
#include "eval/runner.h"

namespace diffedit::eval {

Experiment merge_shards(const std::vector<std::filesystem::path>& shards, const std::filesystem::path& out) {
  if (shards.empty()) throw InputError("merge", "no shard directories given");
  std::optional<config::Json> resolved;
  for (const auto& d : shards) {
    const auto path = d / "config.json";
    fs::require_regular_file(path);
    const config::Json c = load_run_config(path);
    if (resolved && c != *resolved)
      throw InputError(d.string(), "was run with a different config than " + shards.front().string() + " (shards of one experiment only)");
    resolved = c;
  }
  Experiment experiment = make_experiment(*resolved, (shards.front() / "config.json").string());
  claim_directory(out, *resolved, false);
  RecordStore merged(out);
  merged.load();
  for (const auto& d : shards) {
    if (std::filesystem::exists(out) && std::filesystem::equivalent(d, out)) continue;
    RecordStore shard(d);
    shard.load();
    for (const auto& [key, record] : shard.records()) {
      if (merged.contains(key)) {
        if (merged.records().at(key)["metrics"] != record["metrics"])
          throw InputError(d.string(), "record " + key + " differs from the one already merged (overlapping shards disagree)");
        continue;
      }
      // The images first: a record that exists is complete (record_store.h).
      for (const char* field : {"image", "mask"})
        if (record.contains(field)) {
          const auto rel = record[field].get<std::string>();
          std::filesystem::create_directories((out / rel).parent_path());
          std::filesystem::copy_file(d / rel, out / rel, std::filesystem::copy_options::overwrite_existing);
        }
      merged.put(record);
    }
  }
  return experiment;
}

}  // namespace diffedit::eval
