#include "data/toyworld.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "core/errors.h"
#include "core/rng.h"

namespace diffedit::data::toyworld {

namespace {

// A portable PRNG: splitmix64 outputs mapped to doubles (std:: distributions differ across
// standard libraries, which would break determinism across machines).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  double uniform() { return static_cast<double>(rng::splitmix64(state_) >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(uniform() * static_cast<double>(n)) % n; }
  std::uint64_t bits() { return rng::splitmix64(state_); }

 private:
  std::uint64_t state_;
};

constexpr std::array<std::array<float, 3>, 8> kColours = {{{0.86f, 0.13f, 0.13f},    // red
                                                           {0.95f, 0.55f, 0.10f},    // orange
                                                           {0.95f, 0.88f, 0.15f},    // yellow
                                                           {0.15f, 0.70f, 0.22f},    // green
                                                           {0.10f, 0.80f, 0.85f},    // cyan
                                                           {0.15f, 0.25f, 0.90f},    // blue
                                                           {0.55f, 0.20f, 0.75f},    // purple
                                                           {0.95f, 0.50f, 0.75f}}};  // pink
constexpr std::array<double, 3> kRadius = {4.5, 6.5, 8.5};                           // small, medium, large (pixels, 32x32)

// Is the point (x, y), relative to the centre and unrotated, inside the unit-radius shape?
bool inside(std::int64_t shape, double x, double y) {
  const double ax = std::abs(x), ay = std::abs(y), r = std::hypot(x, y);
  switch (shape) {
    case 0: return ax <= 0.8 && ay <= 0.8;  // square
    case 1: return r <= 0.95;               // circle
    case 2:                                 // triangle, apex up: half-width shrinks linearly from 0.9 at the base to 0 at the apex
      return y >= -0.7 && y <= 0.95 && ax <= 0.9 * (0.95 - y) / 1.65;
    case 3: return (ax <= 0.3 && ay <= 0.95) || (ay <= 0.3 && ax <= 0.95);  // cross
    case 4: {  // five-pointed star, a point up: radius from 0.98 (points) to 0.42 (notches) per 72-degree sector
      const double sector = 2 * std::numbers::pi / 5;
      const double m = std::fmod(std::atan2(x, y) + 2 * std::numbers::pi, sector);
      const double k = std::min(m, sector - m) / (sector / 2);  // 0 at a point, 1 at a notch
      return r <= 0.98 - (0.98 - 0.42) * k;
    }
    case 5: return r <= 0.95 && r >= 0.55;  // ring
    case 6: return ax + ay <= 0.95;         // diamond
    case 7:                                 // heart: two lobes above a wedge pointing down
      return std::hypot(ax - 0.4, y - 0.3) <= 0.47 || (y >= -0.95 && y <= 0.3 && ax <= 0.85 * (y + 0.95) / 1.25);
  }
  return false;
}

void fill_background(const Background& b, std::int64_t n, float* out /* [3, n, n] */) {
  Random noise(b.noise_seed);
  for (std::int64_t y = 0; y < n; ++y)
    for (std::int64_t x = 0; x < n; ++x) {
      float t = 0;  // 0 = base colour, 1 = accent colour
      switch (b.texture) {
        case 0: t = 0; break;
        case 1: t = (((b.vertical ? x : y) / b.period) % 2) ? 1.0f : 0.0f; break;
        case 2: t = (((x / b.period) + (y / b.period)) % 2) ? 1.0f : 0.0f; break;
        case 3: t = static_cast<float>(b.vertical ? x : y) / static_cast<float>(n - 1); break;
        case 4: t = static_cast<float>(noise.uniform()); break;
      }
      for (int c = 0; c < 3; ++c) out[(c * n + y) * n + x] = b.base[c] * (1 - t) + b.accent[c] * t;
    }
}

template <typename T>
T pick(Random& r, const std::vector<T>& from) {
  return from[static_cast<std::size_t>(r.below(static_cast<std::int64_t>(from.size())))];
}

// `sizes` are the allowed size indices: the main object's from the spec, every other object's
// strictly smaller, so the main object (the class label, as ImageNet's dominant object) is
// identifiable from the image alone.
Object random_object(Random& r, const WorldSpec& spec, const std::vector<std::int64_t>& sizes) {
  const auto n = static_cast<double>(spec.image_size);
  Object o;
  o.shape = pick(r, spec.shapes);
  o.colour = pick(r, spec.colours);
  o.size = pick(r, sizes);
  const double margin = kRadius[static_cast<std::size_t>(o.size)] * n / 32.0 + 1;
  o.cx = r.uniform(margin, n - margin);
  o.cy = r.uniform(margin, n - margin);
  o.angle = o.shape == 1 || o.shape == 5 ? 0.0 : r.uniform(-spec.max_rotation, spec.max_rotation);
  return o;
}

// The next entry of `from` after `current`, `1 + r.below(|from| - 1)` places on (cyclically): any
// other entry, uniformly.
std::int64_t other_than(Random& r, const std::vector<std::int64_t>& from, std::int64_t current) {
  const auto n = static_cast<std::int64_t>(from.size());
  const auto at = std::find(from.begin(), from.end(), current) - from.begin();
  return from[static_cast<std::size_t>((at + 1 + r.below(n - 1)) % n)];
}

std::string relation(const Object& a, const Object& b) {
  const double dx = b.cx - a.cx, dy = b.cy - a.cy;
  if (std::abs(dy) >= std::abs(dx)) return dy > 0 ? "above" : "below";
  return dx > 0 ? "left of" : "right of";
}

Background random_background(Random& r, const WorldSpec& spec) {
  Background b;
  b.texture = pick(r, spec.backgrounds);
  // Muted, greyish tones so every object colour stands out.
  const float grey = static_cast<float>(r.uniform(0.25, 0.7));
  for (float& c : b.base) c = grey + static_cast<float>(r.uniform(-0.06, 0.06));
  const float shift = static_cast<float>(r.uniform(0.12, 0.22)) * (grey > 0.45f ? -1.0f : 1.0f);
  for (int c = 0; c < 3; ++c) b.accent[c] = b.base[c] + shift;
  b.period = 2 + r.below(3);
  b.vertical = r.below(2) == 1;
  b.noise_seed = r.bits();
  return b;
}

}  // namespace

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> v = {"square", "circle", "triangle", "cross", "star", "ring", "diamond", "heart"};
  return v;
}
const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> v = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"};
  return v;
}
const std::vector<std::string>& size_names() {
  static const std::vector<std::string> v = {"small", "medium", "large"};
  return v;
}
const std::vector<std::string>& texture_names() {
  static const std::vector<std::string> v = {"plain", "striped", "checkered", "gradient", "noisy"};
  return v;
}

std::int64_t num_classes() { return static_cast<std::int64_t>(shape_names().size() * colour_names().size()); }
std::int64_t class_of(std::int64_t shape, std::int64_t colour) { return shape * static_cast<std::int64_t>(colour_names().size()) + colour; }
std::int64_t shape_of(std::int64_t id) { return id / static_cast<std::int64_t>(colour_names().size()); }
std::int64_t colour_of(std::int64_t id) { return id % static_cast<std::int64_t>(colour_names().size()); }
std::string class_name(std::int64_t id) {
  const auto n = static_cast<std::int64_t>(colour_names().size());
  return colour_names()[static_cast<std::size_t>(id % n)] + " " + shape_names()[static_cast<std::size_t>(id / n)];
}

std::string Object::describe() const {
  const std::string& c = colour_names()[static_cast<std::size_t>(colour)];
  const bool vowel = std::string("aeiou").find(c[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + c + " " + shape_names()[static_cast<std::size_t>(shape)];
}

void validate(const WorldSpec& s, const std::string& where) {
  const auto check_list = [&](const std::vector<std::int64_t>& list, const std::vector<std::string>& vocabulary, const char* what,
                              std::size_t minimum) {
    if (list.size() < minimum)
      throw InputError(where, std::string(what) + ": needs at least " + std::to_string(minimum) + " entr" + (minimum == 1 ? "y" : "ies"));
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i] < 0 || list[i] >= static_cast<std::int64_t>(vocabulary.size()))
        throw InputError(where, std::string(what) + ": index " + std::to_string(list[i]) + " is outside the vocabulary");
      if (std::find(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(i), list[i]) != list.begin() + static_cast<std::ptrdiff_t>(i))
        throw InputError(where, std::string(what) + ": " + vocabulary[static_cast<std::size_t>(list[i])] + " is listed twice");
    }
  };
  check_list(s.shapes, shape_names(), "shapes", 2);  // two at least: a shape edit needs another shape
  check_list(s.colours, colour_names(), "colours", 2);
  check_list(s.backgrounds, texture_names(), "backgrounds", 1);
  check_list(s.main_sizes, size_names(), "main_sizes", 1);
  check_list(s.other_sizes, size_names(), "other_sizes", s.max_objects > 1 ? 1 : 0);
  if (s.image_size < 8 || s.image_size > 1024) throw InputError(where, "image_size must be in [8, 1024]");
  if (s.supersample < 1 || s.supersample > 16) throw InputError(where, "supersample must be in [1, 16]");
  if (s.min_objects < 1 || s.max_objects < s.min_objects || s.max_objects > 8)
    throw InputError(where, "objects: need 1 <= min_objects <= max_objects <= 8");
  if (!(s.max_rotation >= 0 && s.max_rotation <= std::numbers::pi)) throw InputError(where, "max_rotation must be in [0, pi]");
  if (s.max_objects > 1) {
    const auto smallest_main = *std::min_element(s.main_sizes.begin(), s.main_sizes.end());
    if (std::none_of(s.other_sizes.begin(), s.other_sizes.end(), [&](std::int64_t z) { return z < smallest_main; }))
      throw InputError(where, "other_sizes: secondary objects need a size below every main size");
  }
}

std::vector<std::int64_t> classes(const WorldSpec& spec) {
  std::vector<std::int64_t> out;
  for (const auto shape : spec.shapes)
    for (const auto colour : spec.colours) out.push_back(class_of(shape, colour));
  std::sort(out.begin(), out.end());
  return out;
}

at::Tensor footprint(const Object& o, const WorldSpec& spec) {
  const std::int64_t n = spec.image_size, s = spec.supersample;
  at::Tensor cover = at::zeros({n, n}, at::kFloat);
  float* c = cover.data_ptr<float>();
  const double radius = kRadius[static_cast<std::size_t>(o.size)] * static_cast<double>(n) / 32.0;
  const double cos_a = std::cos(o.angle), sin_a = std::sin(o.angle);
  for (std::int64_t y = 0; y < n; ++y)
    for (std::int64_t x = 0; x < n; ++x) {
      int hits = 0;
      for (std::int64_t sy = 0; sy < s; ++sy)
        for (std::int64_t sx = 0; sx < s; ++sx) {
          // Sample point in image coordinates (y grows downwards); shape coordinates have y up.
          const double px = static_cast<double>(x) + (static_cast<double>(sx) + 0.5) / static_cast<double>(s) - o.cx;
          const double py = o.cy - (static_cast<double>(y) + (static_cast<double>(sy) + 0.5) / static_cast<double>(s));
          const double u = (cos_a * px + sin_a * py) / radius, v = (-sin_a * px + cos_a * py) / radius;
          hits += inside(o.shape, u, v) ? 1 : 0;
        }
      c[y * n + x] = static_cast<float>(hits) / static_cast<float>(s * s);
    }
  return cover;
}

at::Tensor render(const Scene& scene, const WorldSpec& spec) {
  const std::int64_t n = spec.image_size;
  at::Tensor img = at::empty({3, n, n}, at::kFloat);
  fill_background(scene.background, n, img.data_ptr<float>());
  // Secondary objects first, the main object last (on top).
  for (std::size_t k = scene.objects.size(); k-- > 0;) {
    const Object& o = scene.objects[k];
    const at::Tensor cover = footprint(o, spec);
    for (int c = 0; c < 3; ++c)
      img[c] = img[c] * (1 - cover) + cover * kColours[static_cast<std::size_t>(o.colour)][static_cast<std::size_t>(c)];
  }
  return img;
}

std::string caption_of(const Scene& scene) {
  const auto& objs = scene.objects;
  std::string c = objs[0].describe();
  if (objs.size() >= 2) c += " " + relation(objs[0], objs[1]) + " " + objs[1].describe();
  if (objs.size() >= 3) c += " and " + objs[2].describe();
  return c + " on a " + texture_names()[static_cast<std::size_t>(scene.background.texture)] + " background";
}

Item generate(const std::string& split, std::int64_t index, std::uint64_t seed, const WorldSpec& spec) {
  if (split != "train" && split != "val" && split != "test") throw InputError("split", "'" + split + "' is not one of train, val, test");
  if (index < 0) throw InputError("index", "must be non-negative");
  validate(spec);
  Item item;
  item.world = spec.preset;
  item.split = split;
  item.index = index;
  // The split name is part of the key: splits draw from disjoint seed streams.
  item.seed = rng::derive_seed(seed, "toyworld/" + split + "/" + std::to_string(index));
  Random r(item.seed);
  const std::int64_t n = spec.image_size;

  item.scene.background = random_background(r, spec);
  const std::int64_t count = spec.min_objects + r.below(spec.max_objects - spec.min_objects + 1);
  item.scene.objects.push_back(random_object(r, spec, spec.main_sizes));
  // Secondary objects: smaller than the main one, of another class, mild overlap at most.
  const Object main_object = item.scene.objects[0];
  std::vector<std::int64_t> smaller;
  for (const auto z : spec.other_sizes)
    if (z < main_object.size) smaller.push_back(z);
  const double min_distance = 8.0 * static_cast<double>(n) / 32.0;
  for (std::int64_t k = 1; k < count; ++k) {
    Object o = random_object(r, spec, smaller);
    for (int attempt = 0; attempt < 8 && (class_of(o.shape, o.colour) == class_of(main_object.shape, main_object.colour) ||
                                          std::hypot(o.cx - main_object.cx, o.cy - main_object.cy) < min_distance);
         ++attempt)
      o = random_object(r, spec, smaller);
    item.scene.objects.push_back(o);
  }
  item.image = render(item.scene, spec);
  item.caption = caption_of(item.scene);
  const Object& main = item.scene.objects[0];
  item.label = class_of(main.shape, main.colour);

  // Visible masks: an object's coverage minus whatever is drawn over it.
  item.instance_masks = at::zeros({count, n, n}, at::kFloat);
  at::Tensor drawn_above = at::zeros({n, n}, at::kFloat);
  for (std::int64_t k = 0; k < count; ++k) {
    const at::Tensor own = footprint(item.scene.objects[static_cast<std::size_t>(k)], spec) >= 0.5f;
    item.instance_masks[k] = (own & (drawn_above < 0.5f)).to(at::kFloat);
    drawn_above = at::maximum(drawn_above, own.to(at::kFloat));
  }

  // The edit: change the main object's colour, shape or both.
  Edit& e = item.edit;
  const std::int64_t kind = r.below(3);
  e.kind = kind == 0 ? "colour" : kind == 1 ? "shape" : "both";
  e.from = main;
  e.to = main;
  if (kind != 1) e.to.colour = other_than(r, spec.colours, main.colour);
  if (kind != 0) e.to.shape = other_than(r, spec.shapes, main.shape);
  if (e.to.shape != main.shape) e.to.angle = e.to.shape == 1 || e.to.shape == 5 ? 0.0 : main.angle;
  Scene edited = item.scene;
  edited.objects[0] = e.to;
  e.reference_caption = item.caption;
  e.query_caption = caption_of(edited);
  e.source_label = item.label;
  e.target_label = class_of(e.to.shape, e.to.colour);
  e.reference_class = class_name(e.source_label);
  e.query_class = class_name(e.target_label);
  e.target_image = render(edited, spec);
  e.region = ((footprint(e.from, spec) > 0) | (footprint(e.to, spec) > 0)).to(at::kFloat).unsqueeze(0);
  return item;
}

std::vector<Item> generate_batch(const std::string& split, std::int64_t first, std::int64_t count, std::uint64_t seed,
                                 const WorldSpec& spec) {
  if (count < 0) throw InputError("count", "must be non-negative");
  std::vector<Item> items(static_cast<std::size_t>(count));
  // An error inside a worker is rethrown here by parallel_for.
  at::parallel_for(0, count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) items[static_cast<std::size_t>(i)] = generate(split, first + i, seed, spec);
  });
  return items;
}

}  // namespace diffedit::data::toyworld
