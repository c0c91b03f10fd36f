// The three edit datasets built on the toy world, analogues of the paper's splits:
//   toy-imagenet   class edits: reference "red circle", query "blue star" (ImageNet, class names)
//   toy-coco       caption edits: the scene's caption and the caption of the edited scene (COCO)
//   toy-generated  images made by a text-to-image model from toy captions, edited by caption
//                  (the Imagen split: no ground-truth region or target image)
// Items of toy-imagenet and toy-coco carry the exact edit region and target image.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/toyworld.h"

namespace diffedit::data {

struct EditSample {
  std::string id;                // "toy-coco/test/17"
  std::string world;             // toy datasets: the world preset the item was drawn from (toyworld::WorldSpec::preset)
  at::Tensor image;              // [3, H, W] in [0, 1]
  std::string reference, query;  // texts describing the input and the wanted edit
  std::string source;            // the dataset's own description of the input (source class name or caption),
                                 // whatever `reference` is set to (FlexIT's source text)
  std::string category;          // the edit's kind as one of PIE-Bench's editing types (toy world:
                                 // "change sth's color" or "change object"); empty when unknown
  std::vector<std::string> blend_source_words, blend_target_words;  // the changed word of each prompt where the
                                                                    // dataset names it (PIE-Bench's blended_word)
  std::int64_t source_label = -1, target_label = -1;                // classes of the main object, -1 if unknown
  at::Tensor region;                                                // [1, H, W] ground-truth edit region; undefined when unknown
  at::Tensor target_image;                                          // [3, H, W] ground-truth edited image; undefined when unknown
};

class EditDataset {
 public:
  virtual ~EditDataset() = default;
  virtual std::string name() const = 0;
  virtual std::int64_t size() const = 0;
  virtual EditSample get(std::int64_t index) const = 0;
};

// A text-to-image model as toy-generated needs it: (prompt, seed) -> [3, H, W] in [0, 1].
using ImageGenerator = std::function<at::Tensor(const std::string& prompt, std::uint64_t seed)>;

// Names of the toy datasets.
const std::vector<std::string>& toy_dataset_names();
bool is_toy_dataset(const std::string& name);

// `count` items of `split` of the world `world` under `world_seed`. toy-generated needs
// `generator`; InputError for an unknown name (listing the known ones), a bad split or world, a
// missing generator or a bad `reference`.
// `reference`, the text R (as the real twins): toy-imagenet "none" (the default: the paper's
// ImageNet protocol, R empty) or "source" (the source class name); toy-coco and toy-generated
// "caption" (the default) or "none". `source` (FlexIT's source text) is the class name or caption
// whatever R is.
std::unique_ptr<EditDataset> make_toy_dataset(const std::string& name, const std::string& split, std::int64_t count,
                                              std::uint64_t world_seed = 0, ImageGenerator generator = {},
                                              const toyworld::WorldSpec& world = {}, const std::string& reference = "default");

}  // namespace diffedit::data
