#include "data/toyworld_presets.h"

#include <algorithm>

#include "core/errors.h"

namespace diffedit::data::toyworld {

namespace {
using config::Json;
using config::Schema;

std::vector<std::int64_t> indices_of(const Json& names, const std::vector<std::string>& vocabulary, const std::string& where) {
  std::vector<std::int64_t> out;
  for (const auto& name : names) {
    const auto it = std::find(vocabulary.begin(), vocabulary.end(), name.get<std::string>());
    if (it == vocabulary.end()) {
      std::string known;
      for (const auto& v : vocabulary) known += (known.empty() ? "" : ", ") + v;
      throw ConfigError(where, "'" + name.get<std::string>() + "' is not one of " + known);
    }
    out.push_back(it - vocabulary.begin());
  }
  return out;
}

Json names_of(const std::vector<std::int64_t>& indices, const std::vector<std::string>& vocabulary) {
  Json out = Json::array();
  for (const auto i : indices) out.push_back(vocabulary[static_cast<std::size_t>(i)]);
  return out;
}

const Schema& object_schema() {
  static const Schema schema = Schema::object({
      {"preset", Schema::string().def("full").doc("the preset the other keys change")},
      {"image_size", Schema::integer().range(8, 1024)},
      {"supersample", Schema::integer().range(1, 16).doc("anti-aliasing samples per pixel side")},
      {"shapes", Schema::array(Schema::string()).doc("shape names the objects take")},
      {"colours", Schema::array(Schema::string()).doc("colour names the objects take")},
      {"backgrounds", Schema::array(Schema::string()).doc("background kinds: plain, striped, checkered, gradient, noisy")},
      {"main_sizes", Schema::array(Schema::string()).doc("sizes (small, medium, large) of the main object")},
      {"other_sizes", Schema::array(Schema::string()).doc("sizes of secondary objects (only those below the main object's are drawn)")},
      {"min_objects", Schema::integer().range(1, 8)},
      {"max_objects", Schema::integer().range(1, 8)},
      {"max_rotation", Schema::number().range(0, 3.15).doc("radians; circles and rings are never rotated")},
  });
  return schema;
}
}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"basic", "full"};
  return names;
}

WorldSpec preset(const std::string& name) {
  WorldSpec s;  // full
  if (name == "full") return s;
  if (name == "basic") {
    s.preset = "basic";
    s.shapes = {0, 2, 3, 5};  // square, triangle, cross, ring: no pair closer than 79 px of outline at radius 8.5
    s.backgrounds = {0, 3};   // plain, gradient
    s.main_sizes = {2};       // large
    s.other_sizes = {0};      // small
    s.min_objects = 1;
    s.max_objects = 2;
    s.max_rotation = 0;
    return s;
  }
  throw InputError("world", "unknown preset '" + name + "' (known: basic, full)");
}

namespace {
// preset(), with an unknown name reported as a config error naming `where`.
WorldSpec configured_preset(const std::string& name, const std::string& where) {
  try {
    return preset(name);
  } catch (const InputError& e) {
    throw ConfigError(where, e.problem());
  }
}
}  // namespace

WorldSpec world_from_json(const Json& value, const std::string& where) {
  if (value.is_string()) return configured_preset(value.get<std::string>(), where);
  if (!value.is_object()) throw ConfigError(where, "must be a preset name or an object with \"preset\" and changed parameters");
  const Json j = object_schema().validate(value, where);
  WorldSpec s = configured_preset(j["preset"].get<std::string>(), where + ".preset");
  bool changed = false;
  const auto set = [&](const char* key, auto& field, auto&& convert) {
    if (!j.contains(key) || j[key].is_null()) return;
    auto v = convert(j[key]);
    changed = changed || v != field;
    field = std::move(v);
  };
  const auto as_int = [](const Json& x) { return x.get<std::int64_t>(); };
  const auto names = [&](const std::vector<std::string>& vocabulary, const char* key) {
    return [&vocabulary, key, &where](const Json& x) { return indices_of(x, vocabulary, where + "." + key); };
  };
  set("image_size", s.image_size, as_int);
  set("supersample", s.supersample, as_int);
  set("shapes", s.shapes, names(shape_names(), "shapes"));
  set("colours", s.colours, names(colour_names(), "colours"));
  set("backgrounds", s.backgrounds, names(texture_names(), "backgrounds"));
  set("main_sizes", s.main_sizes, names(size_names(), "main_sizes"));
  set("other_sizes", s.other_sizes, names(size_names(), "other_sizes"));
  set("min_objects", s.min_objects, as_int);
  set("max_objects", s.max_objects, as_int);
  set("max_rotation", s.max_rotation, [](const Json& x) { return x.get<double>(); });
  if (changed) s.preset = "custom";
  try {
    validate(s, where);
  } catch (const InputError& e) {
    throw ConfigError(where, e.problem());
  }
  return s;
}

WorldSpec world_from_text(const std::string& text, const std::string& where) {
  // JSON (an object, or a quoted name) as it is; anything else is a preset name.
  const bool is_json = !text.empty() && (text.front() == '{' || text.front() == '"');
  return world_from_json(is_json ? config::parse_json(text, where) : Json(text), where);
}

Json world_to_json(const WorldSpec& s) {
  return {{"preset", s.preset},
          {"image_size", s.image_size},
          {"supersample", s.supersample},
          {"shapes", names_of(s.shapes, shape_names())},
          {"colours", names_of(s.colours, colour_names())},
          {"backgrounds", names_of(s.backgrounds, texture_names())},
          {"main_sizes", names_of(s.main_sizes, size_names())},
          {"other_sizes", names_of(s.other_sizes, size_names())},
          {"min_objects", s.min_objects},
          {"max_objects", s.max_objects},
          {"max_rotation", s.max_rotation}};
}

Schema world_schema(const std::string& default_preset) {
  // Checked by world_from_json where the world is built, whose errors name the key at fault (a
  // one_of schema could only say that the value has the wrong type).
  return Schema::any().def(default_preset).doc("toy world: a preset name (basic, full) or {\"preset\": ..., changed parameters}");
}

}  // namespace diffedit::data::toyworld
