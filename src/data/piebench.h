// PIE-Bench, the editing benchmark of PnP Inversion (Ju et al., ICLR 2024), in its published
// layout and read as its evaluation/evaluate.py reads it:
//   <root>/mapping_file.json                one JSON object keyed by 12-digit ids, in file order
//   <root>/annotation_images/<image_path>   the source images (512 x 512, PNG or JPEG)
//   <method folder>/<image_path>            a method's outputs, at the same relative paths
// Every item has image_path, original_prompt, editing_prompt, editing_instruction,
// editing_type_id (a string "0".."9"), blended_word and mask (data/piebench_rle.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/piebench_rle.h"
#include "data/toy_datasets.h"

namespace diffedit::data {

// One mapping-file entry, its texts as written (prompts still carry the bracket markup).
struct PieBenchItem {
  std::string key;  // "111000000001"
  std::string image_path;
  std::string original_prompt, editing_prompt;  // e.g. "a [red] apple": the brackets mark the changed words
  std::string editing_instruction;
  std::string editing_type_id;  // "0".."9"
  std::string blended_word;     // space-separated, possibly ""
  Rle mask;
};

// PIE-Bench's ten editing types, indexed by editing_type_id.
inline constexpr std::array<std::string_view, 10> kEditingTypeNames = {
    "random editing",          "change object",     "add object",         "delete object",
    "change sth's content",    "change sth's pose", "change sth's color", "change sth's material",
    "change image background", "change image style"};

// The name of an editing_type_id "0".."9"; InputError for any other id.
std::string editing_type_name(const std::string& editing_type_id);

// evaluate.py's `edit_category_list` default: the ids "0".."9".
std::vector<std::string> all_editing_type_ids();

// The mapping file's items in file order. As the reference, an item whose editing_type_id is not
// one of `edit_category_list` (compared as strings: 3 or "10" never match) is skipped before
// anything else of it is read. FileError if the file is missing; FormatError naming the file and
// the key for invalid JSON, a missing or mistyped field, or a mask that is not a flat list of
// integer (start, length) pairs. editing_instruction and blended_word, which the evaluation does
// not read, default to "" when absent.
std::vector<PieBenchItem> read_mapping_file(const std::filesystem::path& path,
                                            const std::vector<std::string>& edit_category_list = all_editing_type_ids());

// evaluate.py's prompt cleaning: every '[' and ']' character removed, nothing else ("a [red]
// apple" -> "a red apple"; double spaces stay).
std::string clean_prompt(std::string_view prompt);

// run_editing_*.py: blended_word.split(" ") (empty strings kept for repeated spaces), [] for "".
std::vector<std::string> split_blended_word(const std::string& blended_word);

// Prompt-to-Prompt's LocalBlend words ((w[0],), (w[1],)): nullopt without blend words;
// FormatError naming `source` for a single word (the reference's index error).
std::optional<std::array<std::string, 2>> p2p_blend_words(const std::vector<std::string>& words, const std::string& source);

// np.array(Image.open(path)) for the files the reference can score: uint8 [H, W, 3], RGB. The
// reference opens images without convert("RGB") and multiplies them by a 3-channel mask, so a
// grayscale, alpha, palette, 16-bit or CMYK file is a FormatError naming it, never a silent
// conversion. JPEG is decoded by OpenCV's libjpeg (PIE-Bench's values come from Pillow's).
at::Tensor read_piebench_image(const std::filesystem::path& path);

// evaluate.py l.271-273: a non-square target is cropped to its bottom-right 512 x 512 (a method
// output [reconstruction | edit] keeps the edit), with Pillow's crop semantics: parts of the box
// outside a smaller image are 0. Square images are returned as they are. uint8 [H, W, 3].
at::Tensor crop_target(const at::Tensor& image);

// <root>/annotation_images/<image_path>, read_piebench_image'd.
at::Tensor load_source(const std::filesystem::path& root, const PieBenchItem& item);
// <target_folder>/<image_path> (e.g. output/ddim+p2p/annotation_images), read and crop_target'ed.
at::Tensor load_target(const std::filesystem::path& target_folder, const PieBenchItem& item);

// The `piebench` edit dataset: id = the key, query = the cleaned editing prompt, reference = the
// cleaned original prompt ("" when `empty_reference`), source = the cleaned original prompt,
// category = the editing type's name, image = the source at its own size (never resized: the
// reference scores the file's pixels), region = [1, H, W] the decoded mask with its forced border
// (1 = edited), decoded at the image's size (512 x 512 for PIE-Bench, as the reference; other
// sizes, where the reference's mask product would fail, keep the flat index consistent). No
// target image. The first `limit` items (0: all); FormatError if none is left.
std::unique_ptr<EditDataset> make_piebench_dataset(const std::filesystem::path& root, const std::filesystem::path& mapping_file,
                                                   std::int64_t limit = 0, bool empty_reference = false);

}  // namespace diffedit::data
