#include "data/piebench_write.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/fs.h"
#include "data/piebench.h"
#include "data/piebench_rle.h"
#include "image/io.h"

namespace diffedit::data {

namespace {

// The type id of a sample: its category when that is a PIE-Bench type name.
std::string type_id_of(const EditSample& s, const std::string& fallback) {
  for (std::size_t k = 0; k < kEditingTypeNames.size(); ++k)
    if (s.category == kEditingTypeNames[k]) return std::to_string(k);
  return fallback;
}

// "change sth's color" -> "change_sths_color": a folder name.
std::string folder_name(const std::string& type_id) {
  std::string out = type_id + "_";
  for (const char c : editing_type_name(type_id)) {
    if (c == ' ')
      out += '_';
    else if (c != '\'')
      out += c;
  }
  return out;
}

std::string plain_prompt(const std::string& prompt, const std::string& where) {
  if (prompt.find_first_of("[]") != std::string::npos)
    throw InputError(where, "prompt '" + prompt + "' contains '[' or ']', which PIE-Bench's prompt cleaning removes");
  return prompt;
}

void make_dirs(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(dir.string(), "cannot create the folder: " + ec.message());
}

}  // namespace

void write_piebench(const EditDataset& dataset, const std::filesystem::path& out_dir, const PieBenchWriteOptions& options) {
  editing_type_name(options.default_type_id);  // InputError unless "0".."9"
  nlohmann::ordered_json mapping = nlohmann::ordered_json::object();
  for (std::int64_t i = 0; i < dataset.size(); ++i) {
    const EditSample s = dataset.get(i);
    const std::string where = dataset.name() + ": item " + std::to_string(i) + " (" + s.id + ")";
    if (!s.region.defined()) throw InputError(where, "has no ground-truth region to write as a PIE-Bench mask");
    if (s.region.dim() != 3 || s.region.size(0) != 1 || s.region.size(1) != s.image.size(1) || s.region.size(2) != s.image.size(2))
      throw InputError(where, "region " + c10::str(s.region.sizes()) + " does not match image " + c10::str(s.image.sizes()));
    const std::string type_id = type_id_of(s, options.default_type_id);
    char key[32];
    std::snprintf(key, sizeof key, "%s%011lld", type_id.c_str(), static_cast<long long>(i));
    const std::string image_path = folder_name(type_id) + "/" + key + ".png";
    const std::filesystem::path file = out_dir / "annotation_images" / image_path;
    make_dirs(file.parent_path());
    image::write(file, s.image);
    mapping[key] = {
        {"image_path", image_path},
        {"original_prompt", plain_prompt(s.source.empty() ? s.reference : s.source, where)},
        {"editing_prompt", plain_prompt(s.query, where)},
        {"editing_instruction", ""},
        {"editing_type_id", type_id},
        {"blended_word", ""},
        {"mask", mask_encode(s.region[0].gt(0.5))},
    };
  }
  make_dirs(out_dir);
  const std::filesystem::path mapping_file = out_dir / "mapping_file.json";
  std::string text;
  try {
    text = mapping.dump(1) + "\n";  // UTF-8, not ASCII-escaped, as PIE-Bench's file
  } catch (const nlohmann::ordered_json::type_error& e) {
    throw InputError(mapping_file.string(), std::string("a prompt is not valid UTF-8: ") + e.what());
  }
  fs::write_atomic(mapping_file, text);
}

}  // namespace diffedit::data
