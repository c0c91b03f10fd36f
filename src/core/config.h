// JSON configuration: files with includes, command-line overrides and schema validation.
//
//   {"defaults": ["../base.json"], "steps": 50, "method": {"name": "diffedit"}}
//
// `defaults` lists files (relative to the including file) merged first, in order; the file's own
// keys then win. Objects merge key by key; arrays and scalars replace. Overrides `a.b.c=value`
// are applied last; the value is parsed as JSON and taken as a string if it is not JSON.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diffedit::config {

using Json = nlohmann::json;

// Parses JSON text; ConfigError naming `source` with line and column on a syntax error.
Json parse_json(std::string_view text, const std::string& source);
// Reads and parses a JSON file (FileError if missing).
Json load_json(const std::filesystem::path& path);

// Loads a config file and resolves its `defaults` recursively (cycles are an error).
Json load_with_defaults(const std::filesystem::path& path);

// Deep merge: `overlay` into `base`.
void merge_into(Json& base, const Json& overlay);

struct Override {
  std::vector<std::string> path;  // "a.b.c" -> {"a", "b", "c"}
  Json value;
  std::string text;  // the argument as given, for error messages
};
// Parses "a.b.c=value"; ConfigError naming the argument if it has no '=' or an empty key.
Override parse_override(std::string_view argument);
// Sets the value, creating objects on the way; integer components index existing arrays.
void apply_override(Json& config, const Override& override_);

// Typed description of a config: types, defaults, allowed values, documentation.
class Schema {
 public:
  enum class Type { any, boolean, integer, number, string, array, object, map, one_of };

  static Schema any();
  static Schema boolean();
  static Schema integer();
  static Schema number();
  static Schema string();
  static Schema array(Schema element);
  struct Field;
  static Schema object(std::vector<Field> fields);
  static Schema map(Schema value);  // free-form keys, each value of one schema
  static Schema one_of(std::vector<Schema> alternatives);

  Schema& def(Json value);                                              // default: the field is optional and filled with it
  Schema& required();                                                   // the field must be present
  Schema& choices(std::vector<std::string> allowed);                    // strings only
  Schema& range(std::optional<double> min, std::optional<double> max);  // numbers
  Schema& non_empty();                                                  // arrays, strings, maps
  Schema& nullable();                                                   // null is accepted as "unset"
  Schema& doc(std::string text);

  Type type() const { return type_; }
  bool has_field(std::string_view name) const;  // objects: whether `name` is one of the fields
  std::string describe() const;                 // "integer", "array of number", ...

  // Checks types and keys only (no required fields, no defaults): used on each file and each
  // override on its own so that errors name where the bad value came from.
  void check(const Json& value, const std::string& source) const;
  // Full validation: `check` plus required fields; returns a copy with defaults filled in.
  Json validate(const Json& value, const std::string& source) const;

 private:
  void visit(const Json& value, const std::string& path, const std::string& source, bool full, Json* out) const;

  Type type_ = Type::any;
  std::shared_ptr<const Schema> element_;  // array element or map value
  std::vector<Field> fields_;
  std::vector<Schema> alternatives_;
  std::optional<Json> default_;
  bool required_ = false;
  bool nullable_ = false;
  bool non_empty_ = false;
  std::vector<std::string> choices_;
  std::optional<double> min_, max_;
  std::string doc_;
};

struct Schema::Field {
  std::string name;
  Schema schema;
};

// Everything a command needs: the file, its includes, the overrides, validated against `schema`.
// Errors name the file or the override that introduced the problem.
Json resolve(const std::filesystem::path& path, const std::vector<std::string>& overrides, const Schema* schema);

// Keys of `candidates` close to `key` by edit distance, closest first.
std::vector<std::string> near_keys(std::string_view key, const std::vector<std::string>& candidates);
// Optimal-string-alignment edit distance (transpositions count as one edit).
std::size_t edit_distance(std::string_view a, std::string_view b);

// Follows a dotted path ("a.b.c"); nullptr if absent.
const Json* find_path(const Json& config, std::string_view dotted);

}  // namespace diffedit::config
