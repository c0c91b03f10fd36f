// The toy world: procedurally generated 32x32 scenes of 1-3 coloured shapes on a textured
// background, with exact ground truth the real datasets lack (instance masks, class labels,
// captions, and edit queries with their true edit region and rendered target image).
// Deterministic from (split, index, seed); the splits draw from disjoint seed streams.
// Specification: datasets/toyworld/README.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace diffedit::data::toyworld {

const std::vector<std::string>& shape_names();    // square, circle, triangle, cross, star, ring, diamond, heart
const std::vector<std::string>& colour_names();   // red, orange, yellow, green, cyan, blue, purple, pink
const std::vector<std::string>& size_names();     // small, medium, large
const std::vector<std::string>& texture_names();  // plain, striped, checkered, gradient, noisy

std::int64_t num_classes();  // shapes x colours: the ImageNet analogue
std::int64_t class_of(std::int64_t shape, std::int64_t colour);
std::int64_t shape_of(std::int64_t class_id);   // inverses of class_of
std::int64_t colour_of(std::int64_t class_id);
std::string class_name(std::int64_t class_id);  // "red circle"

struct Object {
  std::int64_t shape = 0, colour = 0, size = 0;
  double cx = 0, cy = 0;      // centre in pixels
  double angle = 0;           // rotation in radians
  std::string describe() const;  // "a red circle"
};

struct Background {
  std::int64_t texture = 0;
  float base[3] = {0, 0, 0}, accent[3] = {0, 0, 0};
  std::int64_t period = 4;
  bool vertical = false;
  std::uint64_t noise_seed = 0;
};

struct Scene {
  Background background;
  std::vector<Object> objects;  // drawn in order; objects[0], the main object, is drawn last (never occluded)
};

struct Edit {
  std::string kind;               // "colour", "shape" or "both"
  Object from, to;                // the main object before and after
  std::string reference_caption;  // the input's caption
  std::string query_caption;      // the caption of the edited scene
  std::string reference_class;    // "red circle" (class-name edit, the ImageNet-style query)
  std::string query_class;        // "blue star"
  std::int64_t source_label = 0, target_label = 0;
  at::Tensor region;              // [1, H, W] 0/1: union of the old and new footprints
  at::Tensor target_image;        // [3, H, W] the scene rendered with the edit applied
};

struct Item {
  std::string split;
  std::int64_t index = 0;
  std::uint64_t seed = 0;
  Scene scene;
  at::Tensor image;           // [3, H, W] in [0, 1]
  std::string caption;        // "a red circle above a blue square on a striped background"
  std::int64_t label = 0;     // class of the main object
  at::Tensor instance_masks;  // [n_objects, H, W] 0/1 visible pixels of each object
  Edit edit;
};

struct WorldSpec {
  std::int64_t image_size = 32;
  std::int64_t supersample = 4;  // anti-aliasing: samples per pixel side
  std::int64_t max_objects = 3;
};

// The item `index` of `split` ("train", "val", "test") under world seed `seed`.
Item generate(const std::string& split, std::int64_t index, std::uint64_t seed = 0, const WorldSpec& spec = {});
// Items first .. first + count - 1 of `split`, rendered in parallel on the CPU threads (each item
// depends on its index alone, so the result equals `count` calls of `generate`). Rendering is a
// training step's main CPU cost once the networks run on a GPU.
std::vector<Item> generate_batch(const std::string& split, std::int64_t first, std::int64_t count, std::uint64_t seed = 0,
                                 const WorldSpec& spec = {});

// Rendering and footprints, exposed for tests and for rendering edits of any object.
at::Tensor render(const Scene& scene, const WorldSpec& spec = {});
at::Tensor footprint(const Object& object, const WorldSpec& spec = {});  // [H, W] coverage in [0, 1]
std::string caption_of(const Scene& scene);

}  // namespace diffedit::data::toyworld
