// The toy world: procedurally generated scenes of coloured shapes on a background, with exact
// ground truth the real datasets lack (instance masks, class labels, captions, and edit queries
// with their true edit region and rendered target image). What a world draws from (shapes,
// colours, backgrounds, sizes, object count, rotation) is a WorldSpec; named presets and their
// JSON form are in data/toyworld_presets.h. Deterministic from (split, index, seed, spec); the
// splits draw from disjoint seed streams. Specification: datasets/toyworld/README.md.
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

// The vocabulary is the same in every world: class ids, names and the classifier's outputs do not
// depend on the preset, which only restricts what is drawn (WorldSpec::shapes, ::colours).
std::int64_t num_classes();  // shapes x colours of the whole vocabulary: the ImageNet analogue
std::int64_t class_of(std::int64_t shape, std::int64_t colour);
std::int64_t shape_of(std::int64_t class_id);  // inverses of class_of
std::int64_t colour_of(std::int64_t class_id);
std::string class_name(std::int64_t class_id);  // "red circle"

struct Object {
  std::int64_t shape = 0, colour = 0, size = 0;
  double cx = 0, cy = 0;         // centre in pixels
  double angle = 0;              // rotation in radians
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
  at::Tensor region;        // [1, H, W] 0/1: union of the old and new footprints
  at::Tensor target_image;  // [3, H, W] the scene rendered with the edit applied
};

struct Item {
  std::string world;  // the preset (WorldSpec::preset) the item was drawn from
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

// What a world draws from. Lists hold indices into the vocabulary (shape_names(), ...). The
// default is the `full` preset: the world every model before the presets was trained on.
struct WorldSpec {
  std::string preset = "full";  // the preset's name, or "custom" when a JSON config changed it
  std::int64_t image_size = 32;
  std::int64_t supersample = 4;  // anti-aliasing: samples per pixel side
  std::vector<std::int64_t> shapes = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<std::int64_t> colours = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<std::int64_t> backgrounds = {0, 1, 2, 3, 4};  // texture_names() indices
  std::vector<std::int64_t> main_sizes = {1, 2};            // the main object's size_names() indices
  std::vector<std::int64_t> other_sizes = {0, 1, 2};        // secondary objects: those strictly smaller than the main one
  std::int64_t min_objects = 1, max_objects = 3;
  double max_rotation = 0.35;  // radians, uniform in [-max, max]; circles and rings are never rotated
};

// InputError naming `where` when the spec cannot generate items (an empty or out-of-vocabulary
// list, fewer than two shapes or colours to edit between, secondary objects without a size below
// the main object's, a bad object count or image size).
void validate(const WorldSpec& spec, const std::string& where = "world");
// The class ids a world draws its main objects from: its shapes x colours, ascending.
std::vector<std::int64_t> classes(const WorldSpec& spec);

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
