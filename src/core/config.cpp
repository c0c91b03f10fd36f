#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/fs.h"

namespace diffedit::config {

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& problem) { throw ConfigError(source, problem); }

std::string type_name(const Json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

std::string shown(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += items[i];
  }
  return out;
}

// nlohmann keeps any bytes in a string but refuses to serialise invalid UTF-8, which would
// surface far away (an error message or a record that cannot be written): refuse it on entry.
bool is_utf8(std::string_view text) {
  try {
    (void)Json(std::string(text)).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

std::string key_label(const std::string& path) { return path.empty() ? "the config" : "key '" + path + "'"; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Files, includes, overrides

Json parse_json(std::string_view text, const std::string& source) {
  // Duplicate keys are almost always a mistake in a hand-written config; nlohmann would keep the
  // last one silently, so track the keys of every open object.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case Json::parse_event_t::object_end: open_objects.pop_back(); break;
      case Json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) duplicate = parsed.get<std::string>();
        break;
      default: break;
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    // nlohmann's own line/column are unreliable with a callback; count from the byte offset.
    const std::size_t at = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    const auto line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
    const std::size_t column = line_start == std::string_view::npos || at == 0 ? at + 1 : at - line_start;
    std::string message = e.what();
    if (const auto pos = message.find(": "); pos != std::string::npos) message = message.substr(pos + 2);
    fail(source, "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message);
  } catch (const Json::out_of_range&) {
    fail(source, "invalid JSON: a number is too large for a double");  // nlohmann's own type for 1e400
  }
  if (!duplicate.empty()) fail(source, "duplicate key '" + duplicate + "'");
  return doc;
}

Json load_json(const std::filesystem::path& path) { return parse_json(fs::read_file(path), path.string()); }

void merge_into(Json& base, const Json& overlay) {
  if (!base.is_object() || !overlay.is_object()) {
    base = overlay;
    return;
  }
  for (const auto& [key, value] : overlay.items()) {
    if (base.contains(key) && base[key].is_object() && value.is_object())
      merge_into(base[key], value);
    else
      base[key] = value;
  }
}

namespace {

struct LoadedFile {
  std::filesystem::path path;
  Json own;  // the file's content without "defaults"
};

// Appends `path` and everything it includes to `files` in merge order (includes first).
void collect(const std::filesystem::path& path, std::vector<std::filesystem::path>& stack, std::vector<LoadedFile>& files) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  if (ec) canonical = path;
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
    std::vector<std::string> chain;
    for (const auto& p : stack) chain.push_back(p.string());
    chain.push_back(canonical.string());
    fail(path.string(), "defaults form a cycle: " + join(chain, " -> "));
  }
  Json doc = load_json(path);
  if (!doc.is_object()) fail(path.string(), "a config file must hold a JSON object, not " + type_name(doc));

  std::vector<std::filesystem::path> includes;
  if (doc.contains("defaults")) {
    const Json& d = doc["defaults"];
    if (d.is_string()) {
      includes.emplace_back(d.get<std::string>());
    } else if (d.is_array() && std::all_of(d.begin(), d.end(), [](const Json& x) { return x.is_string(); })) {
      for (const auto& x : d) includes.emplace_back(x.get<std::string>());
    } else {
      fail(path.string(), "'defaults' must be a file name or a list of file names");
    }
    doc.erase("defaults");
  }
  stack.push_back(canonical);
  for (const auto& include : includes) {
    const auto resolved = include.is_absolute() ? include : path.parent_path() / include;
    try {
      collect(resolved, stack, files);
    } catch (const FileError& e) {
      fail(path.string(), "cannot include '" + include.string() + "': " + e.what());
    }
  }
  stack.pop_back();
  files.push_back({path, std::move(doc)});
}

}  // namespace

Json load_with_defaults(const std::filesystem::path& path) { return resolve(path, {}, nullptr); }

Override parse_override(std::string_view argument) {
  if (!is_utf8(argument)) fail("override", "the argument is not valid UTF-8");
  const std::string text(argument);
  const auto eq = argument.find('=');
  if (eq == std::string_view::npos) fail("override '" + text + "'", "expected KEY=VALUE");
  const std::string key(argument.substr(0, eq));
  const std::string value(argument.substr(eq + 1));
  Override o;
  o.text = text;
  std::stringstream parts(key);
  for (std::string part; std::getline(parts, part, '.');) {
    if (part.empty()) fail("override '" + text + "'", "empty component in key '" + key + "'");
    o.path.push_back(part);
  }
  if (o.path.empty() || key.back() == '.') fail("override '" + text + "'", "empty component in key '" + key + "'");
  try {
    o.value = Json::parse(value);
  } catch (const Json::parse_error&) {
    o.value = value;  // not JSON: a plain string
  } catch (const Json::out_of_range&) {
    fail("override '" + text + "'", "a number is too large for a double");
  }
  return o;
}

void apply_override(Json& config, const Override& o) {
  Json* node = &config;
  std::string walked;
  for (std::size_t i = 0; i + 1 < o.path.size(); ++i) {
    const std::string& part = o.path[i];
    walked += (walked.empty() ? "" : ".") + part;
    if (node->is_null()) *node = Json::object();
    if (node->is_object()) {
      node = &(*node)[part];
    } else if (node->is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const auto index = std::stoul(part);
      if (index >= node->size())
        fail("override '" + o.text + "'", "index " + part + " is out of range (" + std::to_string(node->size()) + " elements)");
      node = &(*node)[index];
    } else {
      fail("override '" + o.text + "'", "cannot descend into '" + walked + "', which is " + type_name(*node));
    }
  }
  const std::string& last = o.path.back();
  if (node->is_null()) *node = Json::object();
  if (node->is_array() && std::all_of(last.begin(), last.end(), ::isdigit)) {
    const auto index = std::stoul(last);
    if (index >= node->size())
      fail("override '" + o.text + "'", "index " + last + " is out of range (" + std::to_string(node->size()) + " elements)");
    (*node)[index] = o.value;
  } else if (node->is_object()) {
    (*node)[last] = o.value;
  } else {
    fail("override '" + o.text + "'", "cannot set a key inside a " + type_name(*node));
  }
}

const Json* find_path(const Json& config, std::string_view dotted) {
  const Json* node = &config;
  std::stringstream parts{std::string(dotted)};
  for (std::string part; std::getline(parts, part, '.');) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Suggestions

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::vector<std::string> near_keys(std::string_view key, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(key, c);
    const bool contains = key.size() >= 3 && (c.find(key) != std::string::npos || key.find(c) != std::string_view::npos);
    if (d <= limit || contains) scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (auto& [d, c] : scored) out.push_back(std::move(c));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schema

namespace {
// The factories' one body: a default schema of one type, with at most one more member set. Each
// factory names its private members itself (where it may); this only assigns through the pointers.
Schema with(Schema::Type Schema::*type, Schema::Type kind) {
  Schema s;
  s.*type = kind;
  return s;
}
template <class T>
Schema with(Schema::Type Schema::*type, Schema::Type kind, T Schema::*member, T value) {
  Schema s = with(type, kind);
  s.*member = std::move(value);
  return s;
}
}  // namespace

Schema Schema::any() { return Schema(); }
Schema Schema::boolean() { return with(&Schema::type_, Type::boolean); }
Schema Schema::integer() { return with(&Schema::type_, Type::integer); }
Schema Schema::number() { return with(&Schema::type_, Type::number); }
Schema Schema::string() { return with(&Schema::type_, Type::string); }
Schema Schema::array(Schema element) {
  return with(&Schema::type_, Type::array, &Schema::element_, std::make_shared<const Schema>(std::move(element)));
}
Schema Schema::object(std::vector<Field> fields) { return with(&Schema::type_, Type::object, &Schema::fields_, std::move(fields)); }
Schema Schema::map(Schema value) {
  return with(&Schema::type_, Type::map, &Schema::element_, std::make_shared<const Schema>(std::move(value)));
}
Schema Schema::one_of(std::vector<Schema> alternatives) {
  return with(&Schema::type_, Type::one_of, &Schema::alternatives_, std::move(alternatives));
}

Schema& Schema::def(Json value) {
  default_ = std::move(value);
  return *this;
}
Schema& Schema::required() {
  required_ = true;
  return *this;
}
Schema& Schema::choices(std::vector<std::string> allowed) {
  choices_ = std::move(allowed);
  return *this;
}
Schema& Schema::range(std::optional<double> min, std::optional<double> max) {
  min_ = min;
  max_ = max;
  return *this;
}
Schema& Schema::non_empty() {
  non_empty_ = true;
  return *this;
}
Schema& Schema::nullable() {
  nullable_ = true;
  return *this;
}
Schema& Schema::doc(std::string text) {
  doc_ = std::move(text);
  return *this;
}

bool Schema::has_field(std::string_view name) const {
  return std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return f.name == name; });
}

std::string Schema::describe() const {
  switch (type_) {
    case Type::any: return "any value";
    case Type::boolean: return "boolean";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string:
      if (!choices_.empty()) return "one of " + join(choices_, ", ");
      return "string";
    case Type::array: return "array of " + element_->describe();
    case Type::object: return "object";
    case Type::map: return "object of " + element_->describe();
    case Type::one_of: {
      std::vector<std::string> names;
      for (const auto& a : alternatives_) names.push_back(a.describe());
      return join(names, " or ");
    }
  }
  return "?";
}

void Schema::check(const Json& value, const std::string& source) const { visit(value, "", source, false, nullptr); }

Json Schema::validate(const Json& value, const std::string& source) const {
  Json out;
  visit(value, "", source, true, &out);
  return out;
}

void Schema::visit(const Json& value, const std::string& path, const std::string& source, bool full, Json* out) const {
  auto wrong_type = [&] { fail(source, key_label(path) + ": expected " + describe() + ", got " + type_name(value) + " " + shown(value)); };
  if (value.is_null() && nullable_) {
    if (out) *out = value;
    return;
  }
  auto check_range = [&](double x) {
    if ((min_ && x < *min_) || (max_ && x > *max_)) {
      std::ostringstream bounds;
      bounds << "[" << (min_ ? std::to_string(*min_) : "-inf") << ", " << (max_ ? std::to_string(*max_) : "inf") << "]";
      fail(source, key_label(path) + ": " + shown(value) + " is outside the allowed range " + bounds.str());
    }
  };
  switch (type_) {
    case Type::any:
      if (out) *out = value;
      return;
    case Type::boolean:
      if (!value.is_boolean()) wrong_type();
      if (out) *out = value;
      return;
    case Type::integer: {
      if (value.is_number_integer()) {
        check_range(value.get<double>());
        if (out) *out = value;
        return;
      }
      // 3.0 is accepted as 3; 3.5 is not an integer.
      if (value.is_number_float() && std::isfinite(value.get<double>()) && value.get<double>() == std::floor(value.get<double>())) {
        check_range(value.get<double>());
        if (out) *out = static_cast<std::int64_t>(value.get<double>());
        return;
      }
      wrong_type();
      return;
    }
    case Type::number:
      if (!value.is_number()) wrong_type();
      check_range(value.get<double>());
      if (out) *out = value;
      return;
    case Type::string:
      if (!value.is_string()) wrong_type();
      if (non_empty_ && value.get<std::string>().empty()) fail(source, key_label(path) + ": must not be empty");
      if (!choices_.empty() && std::find(choices_.begin(), choices_.end(), value.get<std::string>()) == choices_.end()) {
        const auto near = near_keys(value.get<std::string>(), choices_);
        fail(source, key_label(path) + ": " + shown(value) + " is not one of " + join(choices_, ", ") +
                         (near.empty() ? "" : " (did you mean '" + near.front() + "'?)"));
      }
      if (out) *out = value;
      return;
    case Type::array: {
      if (!value.is_array()) wrong_type();
      if (non_empty_ && value.empty()) fail(source, key_label(path) + ": must not be empty");
      if (out) *out = Json::array();
      for (std::size_t i = 0; i < value.size(); ++i) {
        Json element;
        element_->visit(value[i], path + "[" + std::to_string(i) + "]", source, full, out ? &element : nullptr);
        if (out) out->push_back(std::move(element));
      }
      return;
    }
    case Type::map: {
      if (!value.is_object()) wrong_type();
      if (non_empty_ && value.empty()) fail(source, key_label(path) + ": must not be empty");
      if (out) *out = Json::object();
      for (const auto& [key, item] : value.items()) {
        Json element;
        element_->visit(item, path.empty() ? key : path + "." + key, source, full, out ? &element : nullptr);
        if (out) (*out)[key] = std::move(element);
      }
      return;
    }
    case Type::object: {
      if (!value.is_object()) wrong_type();
      std::vector<std::string> names;
      for (const auto& f : fields_) names.push_back(f.name);
      if (out) *out = Json::object();
      for (const auto& [key, item] : value.items()) {
        const auto it = std::find_if(fields_.begin(), fields_.end(), [&k = key](const Field& f) { return f.name == k; });
        const std::string child = path.empty() ? key : path + "." + key;
        if (it == fields_.end()) {
          const auto near = near_keys(key, names);
          fail(source, "unknown key '" + child + "'" + (near.empty() ? "" : " (did you mean '" + near.front() + "'?)") + "; valid keys" +
                           (path.empty() ? "" : " in '" + path + "'") + ": " + join(names, ", "));
        }
        Json element;
        it->schema.visit(item, child, source, full, out ? &element : nullptr);
        if (out) (*out)[key] = std::move(element);
      }
      if (!full) return;
      for (const auto& f : fields_) {
        if (value.contains(f.name)) continue;
        const std::string child = path.empty() ? f.name : path + "." + f.name;
        if (f.schema.required_) fail(source, "missing required key '" + child + "'");
        if (f.schema.default_) {
          if (out) (*out)[f.name] = *f.schema.default_;
        } else if (f.schema.type_ == Type::object &&
                   std::none_of(f.schema.fields_.begin(), f.schema.fields_.end(), [](const Field& g) { return g.schema.required_; })) {
          // An optional section with no explicit default takes its fields' defaults.
          Json filled;
          f.schema.visit(Json::object(), child, source, full, out ? &filled : nullptr);
          if (out) (*out)[f.name] = std::move(filled);
        }
      }
      return;
    }
    case Type::one_of: {
      for (const auto& alternative : alternatives_) {
        try {
          alternative.visit(value, path, source, full, out);
          return;
        } catch (const ConfigError&) {
        }
      }
      wrong_type();
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------

Json resolve(const std::filesystem::path& path, const std::vector<std::string>& overrides, const Schema* schema) {
  std::vector<std::filesystem::path> stack;
  std::vector<LoadedFile> files;
  collect(path, stack, files);
  Json merged = Json::object();
  for (const auto& f : files) {
    if (schema) schema->check(f.own, f.path.string());
    merge_into(merged, f.own);
  }
  for (const auto& text : overrides) {
    const Override o = parse_override(text);
    apply_override(merged, o);
    // Files were checked already, so a problem found now was introduced by this override.
    if (schema) schema->check(merged, "override '" + o.text + "'");
  }
  return schema ? schema->validate(merged, path.string()) : merged;
}

}  // namespace diffedit::config
