#include "eval/record_store.h"

#include "core/errors.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"

namespace diffedit::eval {

std::string record_key(const std::string& item, const std::string& method, const config::Json& parameters, std::uint64_t seed) {
  const config::Json k = {{"item", item}, {"method", method}, {"parameters", parameters}, {"seed", seed}};
  return hash::sha256(k.dump()).substr(0, 24);
}

RecordStore::RecordStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

void RecordStore::load() {
  records_.clear();
  const auto records_dir = dir_ / "records";
  if (!std::filesystem::exists(records_dir)) return;
  for (const auto& entry : std::filesystem::directory_iterator(records_dir)) {
    const auto& path = entry.path();
    if (path.extension() != ".json") continue;  // temporaries of an interrupted write, set-aside files
    try {
      config::Json r = config::parse_json(fs::read_file(path), path.string());
      if (!r.is_object() || !r.contains("key") || !r["key"].is_string() || r["key"].get<std::string>() != path.stem().string())
        throw FormatError(path.string(), "not a record of this store (key missing or not matching the file name)");
      records_.emplace(r["key"].get<std::string>(), std::move(r));
    } catch (const Error& e) {
      log::warn("setting aside ", path.string(), ": ", e.problem());
      std::filesystem::rename(path, path.string() + ".corrupt");
    }
  }
}

void RecordStore::remove_interrupted_writes() {
  // A run killed mid-write leaves its temporary file behind; no record or image refers to one.
  for (const auto& sub : {dir_, dir_ / "records", images_dir()})
    if (const int n = fs::remove_stale_temporaries(sub))
      log::info("removed ", n, " temporary files of an interrupted run from ", sub.string());
}

void RecordStore::put(const config::Json& record) {
  const std::string key = record.at("key");
  std::filesystem::create_directories(dir_ / "records");
  fs::write_atomic(dir_ / "records" / (key + ".json"), record.dump(1) + "\n");
  records_[key] = record;
}

}  // namespace diffedit::eval
