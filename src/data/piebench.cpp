#include "data/piebench.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/fs.h"
#include "image/io.h"

namespace diffedit::data {

namespace {

using OrderedJson = nlohmann::ordered_json;  // the reference iterates the mapping file in file order

OrderedJson parse_mapping(const std::filesystem::path& path) {
  const std::string text = fs::read_file(path);
  try {
    OrderedJson doc = OrderedJson::parse(text);
    if (!doc.is_object()) throw FormatError(path.string(), "a PIE-Bench mapping file holds one JSON object keyed by item id");
    return doc;
  } catch (const OrderedJson::exception& e) {
    throw FormatError(path.string(), std::string("invalid JSON: ") + e.what());
  }
}

std::string text_field(const OrderedJson& item, const char* name, const std::string& where, bool required) {
  const auto it = item.find(name);
  if (it == item.end()) {
    if (required) throw FormatError(where, std::string("missing field '") + name + "'");
    return "";
  }
  if (!it->is_string()) throw FormatError(where, std::string("field '") + name + "' must be a string, not " + it->type_name());
  return it->get<std::string>();
}

// The mask must be a flat list of integers in (start, length) pairs: the reference raises on an
// odd count (index error) and on floats, even integral ones (range() refuses them).
Rle rle_field(const OrderedJson& item, const std::string& where) {
  const auto it = item.find("mask");
  if (it == item.end()) throw FormatError(where, "missing field 'mask'");
  if (!it->is_array()) throw FormatError(where, std::string("mask must be a list of integers, not ") + it->type_name());
  Rle rle;
  rle.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const OrderedJson& v = (*it)[i];
    const bool in_range =
        v.is_number_integer() && (!v.is_number_unsigned() || v.get<std::uint64_t>() <= std::numeric_limits<std::int64_t>::max());
    if (!in_range) throw FormatError(where, "mask[" + std::to_string(i) + "] is " + v.dump() + ", not a 64-bit integer");
    rle.push_back(v.get<std::int64_t>());
  }
  if (rle.size() % 2 != 0)
    throw FormatError(where, "mask has an odd number of entries (" + std::to_string(rle.size()) + "): expected start, length pairs");
  return rle;
}

// What the stored samples are, for a file read_piebench_image refuses.
std::string stored_layout(const image::Info& info) {
  if (info.palette) return "a palette";
  if (info.bit_depth != 8) return "a " + std::to_string(info.bit_depth) + "-bit";
  switch (info.channels) {
    case 1: return "a grayscale";
    case 2: return "a grayscale + alpha";
    case 4: return info.format == "jpeg" ? "a CMYK (4-component)" : "an RGBA";
    default: return "a " + std::to_string(info.channels) + "-channel";
  }
}

constexpr const char* kNeedsRgb = " image; PIE-Bench opens images without convert(\"RGB\") and needs 8-bit RGB";

class PieBenchDataset : public EditDataset {
 public:
  PieBenchDataset(std::filesystem::path root, std::filesystem::path mapping, std::vector<PieBenchItem> items, bool empty_reference)
      : root_(std::move(root)), mapping_(std::move(mapping)), items_(std::move(items)), empty_reference_(empty_reference) {}
  std::string name() const override { return "piebench"; }
  std::int64_t size() const override { return static_cast<std::int64_t>(items_.size()); }
  EditSample get(std::int64_t index) const override {
    if (index < 0 || index >= size()) throw InputError(name(), "index " + std::to_string(index) + " out of range");
    const PieBenchItem& item = items_[static_cast<std::size_t>(index)];
    EditSample s;
    s.id = item.key;
    s.query = clean_prompt(item.editing_prompt);
    s.source = clean_prompt(item.original_prompt);
    s.reference = empty_reference_ ? "" : s.source;
    s.category = editing_type_name(item.editing_type_id);
    if (const auto words = p2p_blend_words(split_blended_word(item.blended_word), mapping_.string() + ": " + item.key)) {
      s.blend_source_words = {(*words)[0]};  // run_editing_p2p.py's ((w[0],), (w[1],))
      s.blend_target_words = {(*words)[1]};
    }
    const at::Tensor u8 = load_source(root_, item);
    s.image = u8.permute({2, 0, 1}).to(at::kFloat).div(255.0f).contiguous();
    s.region = mask_decode(item.mask, u8.size(0), u8.size(1), mapping_.string() + ": " + item.key).to(at::kFloat).unsqueeze(0);
    return s;
  }

 private:
  std::filesystem::path root_, mapping_;
  std::vector<PieBenchItem> items_;
  bool empty_reference_;
};

}  // namespace

std::string editing_type_name(const std::string& id) {
  for (std::size_t k = 0; k < kEditingTypeNames.size(); ++k)
    if (id == std::to_string(k)) return std::string(kEditingTypeNames[k]);
  throw InputError("editing_type_id", "'" + id + "' is not a PIE-Bench editing type (\"0\"..\"9\")");
}

std::vector<std::string> all_editing_type_ids() {
  std::vector<std::string> ids;
  for (std::size_t k = 0; k < kEditingTypeNames.size(); ++k) ids.push_back(std::to_string(k));
  return ids;
}

std::vector<PieBenchItem> read_mapping_file(const std::filesystem::path& path, const std::vector<std::string>& edit_category_list) {
  const OrderedJson doc = parse_mapping(path);
  std::vector<PieBenchItem> items;
  for (const auto& [key, value] : doc.items()) {
    const std::string where = path.string() + ": " + key;
    if (!value.is_object()) throw FormatError(where, std::string("an item must be a JSON object, not ") + value.type_name());
    const auto id = value.find("editing_type_id");
    if (id == value.end()) throw FormatError(where, "missing field 'editing_type_id'");
    if (!id->is_string() ||
        std::find(edit_category_list.begin(), edit_category_list.end(), id->get<std::string>()) == edit_category_list.end())
      continue;  // the reference's string comparison: a non-string id is never in the list
    PieBenchItem item;
    item.key = key;
    item.editing_type_id = id->get<std::string>();
    item.image_path = text_field(value, "image_path", where, true);
    item.original_prompt = text_field(value, "original_prompt", where, true);
    item.editing_prompt = text_field(value, "editing_prompt", where, true);
    item.editing_instruction = text_field(value, "editing_instruction", where, false);
    item.blended_word = text_field(value, "blended_word", where, false);
    item.mask = rle_field(value, where);
    items.push_back(std::move(item));
  }
  return items;
}

std::string clean_prompt(std::string_view prompt) {
  std::string out;
  std::copy_if(prompt.begin(), prompt.end(), std::back_inserter(out), [](char c) { return c != '[' && c != ']'; });
  return out;
}

std::vector<std::string> split_blended_word(const std::string& blended_word) {
  std::vector<std::string> words;
  if (blended_word.empty()) return words;
  for (std::size_t start = 0;;) {
    const std::size_t space = blended_word.find(' ', start);
    words.push_back(blended_word.substr(start, space == std::string::npos ? std::string::npos : space - start));
    if (space == std::string::npos) return words;
    start = space + 1;
  }
}

std::optional<std::array<std::string, 2>> p2p_blend_words(const std::vector<std::string>& words, const std::string& source) {
  if (words.empty()) return std::nullopt;
  if (words.size() < 2) throw FormatError(source, "blended_word has one word; Prompt-to-Prompt's LocalBlend needs two");
  return std::array<std::string, 2>{words[0], words[1]};
}

at::Tensor read_piebench_image(const std::filesystem::path& path) {
  const image::Info info = image::probe(path);  // FileError if missing
  if (info.format != "other" && (info.channels != 3 || info.bit_depth != 8 || info.palette))
    throw FormatError(path.string(), "is " + stored_layout(info) + kNeedsRgb);
  const at::Tensor chw = image::read(path, {.color = image::Color::keep, .alpha = image::Alpha::keep});
  if (chw.size(0) != 3) throw FormatError(path.string(), "is a " + std::to_string(chw.size(0)) + "-channel" + kNeedsRgb);
  // image::read gives v / 255 for 8-bit files; rounding recovers v exactly.
  return chw.mul(255.0f).round().to(at::kByte).permute({1, 2, 0}).contiguous();
}

at::Tensor crop_target(const at::Tensor& image) {
  const std::int64_t H = image.size(0), W = image.size(1);
  if (H == W) return image;
  // Pillow's crop((W-512, H-512, W, H)): output (y, x) = input (H-512+y, W-512+x), 0 outside.
  const std::int64_t top = H - kPieBenchSize, left = W - kPieBenchSize;
  const std::int64_t y0 = std::max<std::int64_t>(top, 0), x0 = std::max<std::int64_t>(left, 0);
  at::Tensor out = at::zeros({kPieBenchSize, kPieBenchSize, image.size(2)}, image.options());
  out.slice(0, y0 - top).slice(1, x0 - left).copy_(image.slice(0, y0).slice(1, x0));
  return out;
}

at::Tensor load_source(const std::filesystem::path& root, const PieBenchItem& item) {
  return read_piebench_image(root / "annotation_images" / item.image_path);
}

at::Tensor load_target(const std::filesystem::path& target_folder, const PieBenchItem& item) {
  return crop_target(read_piebench_image(target_folder / item.image_path));
}

std::unique_ptr<EditDataset> make_piebench_dataset(const std::filesystem::path& root, const std::filesystem::path& mapping_file,
                                                   std::int64_t limit, bool empty_reference) {
  std::vector<PieBenchItem> items = read_mapping_file(mapping_file);
  if (items.empty()) throw FormatError(mapping_file.string(), "no items with an editing_type_id in \"0\"..\"9\"");
  if (limit > 0 && static_cast<std::int64_t>(items.size()) > limit) items.resize(static_cast<std::size_t>(limit));
  return std::make_unique<PieBenchDataset>(root, mapping_file, std::move(items), empty_reference);
}

}  // namespace diffedit::data
