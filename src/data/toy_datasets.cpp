#include "data/toy_datasets.h"

#include <algorithm>

#include "core/errors.h"
#include "core/rng.h"
#include "data/piebench.h"
#include "data/toyworld.h"

namespace diffedit::data {

namespace {
namespace tw = toyworld;

class ToyDataset : public EditDataset {
 public:
  enum class Kind { imagenet, coco, generated };
  ToyDataset(Kind kind, std::string split, std::int64_t count, std::uint64_t seed, ImageGenerator generator, tw::WorldSpec world,
             bool empty_reference)
      : kind_(kind),
        split_(std::move(split)),
        count_(count),
        seed_(seed),
        generator_(std::move(generator)),
        world_(std::move(world)),
        empty_reference_(empty_reference) {}

  std::string name() const override {
    return kind_ == Kind::imagenet ? "toy-imagenet" : kind_ == Kind::coco ? "toy-coco" : "toy-generated";
  }
  std::int64_t size() const override { return count_; }

  EditSample get(std::int64_t index) const override {
    if (index < 0 || index >= count_) throw InputError(name(), "index " + std::to_string(index) + " out of range");
    const tw::Item item = tw::generate(split_, index, seed_, world_);
    EditSample s;
    s.id = name() + "/" + split_ + "/" + std::to_string(index);
    s.world = item.world;
    s.source_label = item.edit.source_label;
    s.target_label = item.edit.target_label;
    if (kind_ == Kind::imagenet) {
      s.source = item.edit.reference_class;
      s.query = item.edit.query_class;
    } else {
      s.source = item.edit.reference_caption;
      s.query = item.edit.query_caption;
    }
    s.reference = empty_reference_ ? "" : s.source;
    // PIE-Bench's editing types: a colour edit changes an attribute, a shape edit the object.
    s.category = std::string(item.edit.kind == "colour" ? kEditingTypeNames[6] : kEditingTypeNames[1]);
    if (kind_ == Kind::generated) {
      // The model draws the scene from its caption; where the objects land is its own choice, so
      // no region or target image is known (as for the paper's Imagen images).
      s.image = generator_(item.caption, rng::derive_seed(seed_, "toy-generated/" + split_ + "/" + std::to_string(index)));
    } else {
      s.image = item.image;
      s.region = item.edit.region;
      s.target_image = item.edit.target_image;
    }
    return s;
  }

 private:
  Kind kind_;
  std::string split_;
  std::int64_t count_;
  std::uint64_t seed_;
  ImageGenerator generator_;
  tw::WorldSpec world_;
  bool empty_reference_;
};
}  // namespace

const std::vector<std::string>& toy_dataset_names() {
  static const std::vector<std::string> names = {"toy-imagenet", "toy-coco", "toy-generated"};
  return names;
}

bool is_toy_dataset(const std::string& name) {
  const auto& names = toy_dataset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::unique_ptr<EditDataset> make_toy_dataset(const std::string& name, const std::string& split, std::int64_t count,
                                              std::uint64_t world_seed, ImageGenerator generator, const toyworld::WorldSpec& world,
                                              const std::string& reference) {
  if (split != "train" && split != "val" && split != "test") throw InputError("split", "'" + split + "' is not one of train, val, test");
  if (count < 0) throw InputError(name, "negative item count");
  ToyDataset::Kind kind;
  if (name == "toy-imagenet")
    kind = ToyDataset::Kind::imagenet;
  else if (name == "toy-coco")
    kind = ToyDataset::Kind::coco;
  else if (name == "toy-generated")
    kind = ToyDataset::Kind::generated;
  else
    throw InputError("dataset", "unknown toy dataset '" + name + "' (known: toy-imagenet, toy-coco, toy-generated)");
  if (kind == ToyDataset::Kind::generated && !generator)
    throw InputError(name, "needs a text-to-image model (the toy-sd directory) to generate its images");
  toyworld::validate(world, name + ": world");
  const bool imagenet = kind == ToyDataset::Kind::imagenet;
  if (reference != "default" && reference != "none" && reference != (imagenet ? "source" : "caption"))
    throw InputError("dataset.reference", name + ": " + (imagenet ? "none or source" : "caption or none") + " (got '" + reference + "')");
  const bool empty_reference = reference == "none" || (imagenet && reference == "default");
  return std::make_unique<ToyDataset>(kind, split, count, world_seed, std::move(generator), world, empty_reference);
}

}  // namespace diffedit::data
