// A dataset with ground-truth regions written in PIE-Bench's layout (data/piebench.h), so that
// PIE-Bench's own evaluation, or the `piebench` dataset, can read it: a toy twin of the benchmark.
//   <out>/mapping_file.json                       12-digit keys "<type id><11-digit item index>"
//   <out>/annotation_images/<image_path>          "<type id>_<type name>/<key>.png", 8-bit RGB PNG
// Per item: original_prompt = the sample's source text (its reference if that is empty),
// editing_prompt = its query, both plain (no bracket markup); editing_instruction and
// blended_word empty; mask = the canonical runs of its region at the image's own size.
#pragma once

#include <filesystem>
#include <string>

#include "data/toy_datasets.h"

namespace diffedit::data {

struct PieBenchWriteOptions {
  // editing_type_id of a sample whose category is not one of PIE-Bench's type names (every toy
  // sample): "1", change object, what the toy world's edits do (one shape becomes another).
  std::string default_type_id = "1";
};

// Writes every item of `dataset` under `out_dir`. InputError naming the item if it has no region,
// a region of another size than its image, or a prompt with '[' or ']' (which PIE-Bench's prompt
// cleaning would drop); InputError for a default_type_id outside "0".."9".
void write_piebench(const EditDataset& dataset, const std::filesystem::path& out_dir, const PieBenchWriteOptions& options = {});

}  // namespace diffedit::data
