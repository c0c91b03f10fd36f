// A cache key derived from every field of a small options struct, so that a field added to the
// struct is part of the key by construction: the struct lists its fields once, beside their
// declarations, as `auto fields() const { return std::tuple{field("name", name), ...}; }`, and
// struct_key() refuses (at compile time) a struct whose member count differs from that list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace diffedit::structs {

template <class T>
struct Field {
  const char* name;
  const T& value;
};
template <class T>
Field<T> field(const char* name, const T& value) {
  return {name, value};
}

namespace detail {
// Converts to any member type: T{AnyField{}, ...} compiles with as many initialisers as T has
// members (aggregates of scalars and enums, which is what the options structs are).
struct AnyField {
  template <class T>
  operator T() const noexcept {
    __builtin_unreachable();
  }  // only used in unevaluated contexts
};

template <class T, class... A>
consteval std::size_t member_count() {
  if constexpr (requires { T{A{}..., AnyField{}}; })
    return member_count<T, A..., AnyField>();
  else
    return sizeof...(A);
}

template <class T>
std::string value_text(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<std::int64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", static_cast<double>(v));  // round-trips: equal keys iff equal values
    return text;
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    return std::string(v);
  }
}
}  // namespace detail

// The number of members of an aggregate of scalars (what struct_key checks its field list against).
template <class T>
consteval std::size_t member_count() {
  return detail::member_count<T>();
}

// "name=value name=value ...", over every field of `s`, in declaration order.
template <class S>
std::string struct_key(const S& s) {
  const auto fields = s.fields();
  static_assert(std::tuple_size_v<decltype(fields)> == member_count<S>(),
                "fields() must list every member of the struct: the key is derived from it");
  std::string key;
  std::apply([&](const auto&... f) { ((key += (key.empty() ? "" : " ") + std::string(f.name) + "=" + detail::value_text(f.value)), ...); },
             fields);
  return key;
}

}  // namespace diffedit::structs
