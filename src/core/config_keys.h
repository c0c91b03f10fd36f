// A config struct's JSON keys written once: a table of (key, member, schema of its value), from
// which both the object's schema and the reader come, with a compile-time check that the table
// covers every member of the struct. A key in the schema that the reader forgets, or a member
// that no key fills, cannot happen.
//
//   const auto& vae_keys() {
//     static const auto table = std::tuple{
//         config::key("in_channels", &VAEConfig::in_channels, Schema::integer().range(1, std::nullopt)), ...};
//     return table;
//   }
//   VAEConfig c = config::read_keys<VAEConfig>(object_schema(vae_keys()).validate(json, source), vae_keys(), source);
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/struct_key.h"

namespace diffedit::config {

template <class S, class T>
struct Key {
  const char* name;
  T S::*member;
  Schema schema;
  // Reads a present, non-null value into the struct being built (the members before this one in
  // the table are already read); empty: the value converted to T.
  std::function<void(const Json& value, S& out, const std::string& source)> read;
  // The member as JSON (write_keys); empty: T converted to JSON.
  std::function<Json(const T& value)> write;
};

// (`read` is not deduced from: S and T come from the member pointer, so a lambda converts.)
template <class S, class T>
Key<S, T> key(const char* name, T S::*member, Schema schema,
              std::type_identity_t<std::function<void(const Json& value, S& out, const std::string& source)>> read = {}) {
  return {name, member, std::move(schema), std::move(read), {}};
}

// An enum's names: one table for its schema's choices, its reading and its writing.
template <class E>
struct EnumName {
  E value;
  const char* name;
};
template <class E>
using EnumNames = std::vector<EnumName<E>>;

template <class E>
std::vector<std::string> enum_choices(const EnumNames<E>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.emplace_back(n.name);
  return out;
}
// The value named `name`; std::logic_error for a name outside the table (validate against
// enum_choices first).
template <class E>
E enum_value(const EnumNames<E>& names, const std::string& name) {
  for (const auto& n : names)
    if (name == n.name) return n.value;
  throw std::logic_error("'" + name + "' is not among the enum's names");
}
template <class E>
const char* enum_name(const EnumNames<E>& names, E value) {
  for (const auto& n : names)
    if (n.value == value) return n.name;
  throw std::logic_error("an enum value without a name");
}

// A key whose value is one of an enum's names (`schema` adds to the string's: nullable, doc).
template <class S, class E>
Key<S, E> enum_key(const char* name, E S::*member, const EnumNames<E>& names, Schema schema = Schema::string()) {
  schema.choices(enum_choices(names));
  Key<S, E> k{name, member, std::move(schema), {}, {}};
  k.read = [names, member](const Json& v, S& out, const std::string&) { out.*member = enum_value(names, v.get<std::string>()); };
  k.write = [names](const E& v) { return Json(enum_name(names, v)); };
  return k;
}

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class S, class T>
void read_key(const Json& j, S& out, const Key<S, T>& k, const std::string& source) {
  if (!j.contains(k.name) || j[k.name].is_null()) return;  // the member keeps its default
  if (k.read) {
    k.read(j[k.name], out, source);
  } else if constexpr (is_optional<T>::value) {
    out.*k.member = j[k.name].template get<typename T::value_type>();
  } else {
    out.*k.member = j[k.name].template get<T>();
  }
}
template <class S, class T>
void write_key(Json& j, const S& in, const Key<S, T>& k) {
  const T& v = in.*k.member;
  if (k.write) {
    j[k.name] = k.write(v);
  } else if constexpr (is_optional<T>::value) {
    j[k.name] = v ? Json(*v) : Json(nullptr);
  } else {
    j[k.name] = v;
  }
}
}  // namespace detail

// The object schema of a key table, plus the keys the file format has that the struct does not
// keep (e.g. diffusers' "_class_name"), accepted and ignored.
template <class... K>
Schema object_schema(const std::tuple<K...>& keys, std::vector<Schema::Field> ignored = {}) {
  std::vector<Schema::Field> fields;
  std::apply([&](const auto&... k) { (fields.push_back({k.name, k.schema}), ...); }, keys);
  for (auto& f : ignored) fields.push_back(std::move(f));
  return Schema::object(std::move(fields));
}

// A default-constructed S with every key of the table that `validated` (checked against
// object_schema(keys)) holds read into its member, in table order.
template <class S, class... K>
S read_keys(const Json& validated, const std::tuple<K...>& keys, const std::string& source) {
  static_assert(sizeof...(K) == structs::member_count<S>(), "the key table must fill every member of the struct");
  S out;
  std::apply([&](const auto&... k) { (detail::read_key(validated, out, k, source), ...); }, keys);
  return out;
}

// Every key of the table with its member's value (what read_keys reads back to an equal struct).
template <class S, class... K>
Json write_keys(const S& in, const std::tuple<K...>& keys) {
  Json j = Json::object();
  std::apply([&](const auto&... k) { (detail::write_key(j, in, k), ...); }, keys);
  return j;
}

}  // namespace diffedit::config
