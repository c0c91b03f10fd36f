// The results of a run: one JSON record per (dataset item, method, parameters, seed), append-only,
// in DIR/records/<key>.json, with the edited image (and mask) in DIR/images/. A record is written
// atomically (temporary file, fsync, rename) after its images, so a record that exists is complete
// and a killed run never leaves one half-written; re-running resumes from the records present.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "core/config.h"

namespace diffedit::eval {

// The record key: the first 24 hex digits of SHA-256 over the canonical JSON of
// {item, method, parameters, seed}.
std::string record_key(const std::string& item, const std::string& method, const config::Json& parameters, std::uint64_t seed);

class RecordStore {
 public:
  explicit RecordStore(std::filesystem::path dir);
  const std::filesystem::path& dir() const { return dir_; }
  // Reads every DIR/records/*.json; a file that does not parse or lacks its key is reported and
  // set aside as *.json.corrupt (never silently used).
  void load();
  // Removes the temporaries that a killed run left in DIR, records/ and images/
  // (fs::remove_stale_temporaries). Only the run that writes DIR calls it: readers (merge,
  // report) leave directories as they find them, and a pid means nothing on another host.
  void remove_interrupted_writes();
  bool contains(const std::string& key) const { return records_.count(key) != 0; }
  const std::map<std::string, config::Json>& records() const { return records_; }
  // Writes the record (atomically) and keeps it.
  void put(const config::Json& record);
  std::filesystem::path images_dir() const { return dir_ / "images"; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, config::Json> records_;
};

}  // namespace diffedit::eval
