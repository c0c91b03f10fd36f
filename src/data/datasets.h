// Every edit dataset by name: the toy world's three (data/toy_datasets.h) and the paper's real
// ones in their published on-disk formats.
//   imagenet-flexit  FlexIT's dataset/queries.csv (",path,source,source_id,target,target_id,is_test")
//                    over the ILSVRC2012 validation images; split test (is_test True, 1,092 rows)
//                    or dev. Query: the target class name; reference: empty (the paper's ImageNet
//                    protocol) or the source class name (`reference: source`). Item ids are the
//                    CSV's unnamed first column, as FlexIT names its outputs.
//   coco-bison       COCO captions (captions_val2014.json) + BISON annotations
//                    (bison_annotations.cocoval2014.json): for each BISON query the input is the
//                    candidate image the caption does NOT describe, the query is that caption,
//                    the reference the input's first COCO caption; `max_changed_words` keeps
//                    queries whose word-level edit distance to the reference is below that share.
//   imagen-pairs     a pair list "id <> caption <> changed phrase <> new phrase" (InstDiffEdit's
//                    Imagen_list.txt format) over images <root>/<id>.png; query: the caption with
//                    the phrase replaced; reference: the caption, or empty (`reference: none`).
//   piebench         PIE-Bench (PnP Inversion's benchmark, data/piebench.h): <root>/mapping_file.json
//                    (or `annotations`) over <root>/annotation_images; query: the cleaned editing
//                    prompt; reference: the cleaned original prompt, or empty (`reference: none`);
//                    category: the editing type; region: the decoded mask. Images keep their own
//                    size (PIE-Bench's are 512 x 512; `image_size` does not apply). Ids are the keys.
//   coco-images      a reference set, not edits: the images of captions_val2014.json in image-id
//                    order, without every image that a BISON file (`annotations`, optional) names
//                    as a candidate, so FID references are disjoint from coco-bison's inputs
//                    (filtered or not). Source text: the image's first caption; no query.
// Other real images are read as RGB and brought to `image_size` with torchvision's Resize + CenterCrop
// (Pillow bilinear, its default for PIL images).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/toy_datasets.h"

namespace diffedit::data {

struct DatasetOptions {
  std::string name, split = "test";
  std::int64_t limit = 0;             // 0: all items
  std::uint64_t world_seed = 0;       // toy datasets
  toyworld::WorldSpec world;          // toy datasets: the world they draw from
  std::filesystem::path root;         // image folder (ImageNet val root, COCO val2014 folder, Imagen images, PIE-Bench data)
  std::filesystem::path annotations;  // queries.csv, BISON json, the Imagen pair list or PIE-Bench's mapping file
  std::filesystem::path captions;     // COCO captions json
  std::int64_t image_size = 512;
  std::string reference = "default";  // (toy-)imagenet: none|source; coco, imagen, piebench, toy-coco, toy-generated: caption|none
  double max_changed_words = 1.0;     // coco-bison filter (share of words changed), 1 = keep all
};

const std::vector<std::string>& dataset_names();

// InputError for an unknown name; FileError / FormatError naming the file for missing or
// malformed annotations (the row or entry included).
std::unique_ptr<EditDataset> make_dataset(const DatasetOptions& options, ImageGenerator generator = {});

// Word-level edit distance between two captions (lower-cased, punctuation stripped) divided by
// the longer one's word count: BISON's "share of words changed".
double changed_word_share(const std::string& a, const std::string& b);

}  // namespace diffedit::data
