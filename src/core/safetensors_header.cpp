#include "core/safetensors_header.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/errors.h"

namespace diffedit::safetensors {

namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<DTypeEntry, 10> kDTypes{{{DType::F64, "F64", 8},
                                              {DType::F32, "F32", 4},
                                              {DType::F16, "F16", 2},
                                              {DType::BF16, "BF16", 2},
                                              {DType::I64, "I64", 8},
                                              {DType::I32, "I32", 4},
                                              {DType::I16, "I16", 2},
                                              {DType::I8, "I8", 1},
                                              {DType::U8, "U8", 1},
                                              {DType::BOOL, "BOOL", 1}}};

const DTypeEntry& entry(DType dtype) { return kDTypes[static_cast<std::size_t>(dtype)]; }

[[noreturn]] void fail(const std::string& source, const std::string& problem) { throw FormatError(source, problem); }

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// Reads a non-negative JSON integer; `what` names the field for the error message.
std::uint64_t read_index(const nlohmann::json& value, const std::string& what, const std::string& source) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) fail(source, what + " is negative (" + value.dump() + ")");
  if (value.is_number_float()) fail(source, what + " is not an integer (" + value.dump() + ")");
  fail(source, what + " is not a number (" + value.dump() + ")");
}

TensorInfo parse_entry(const std::string& name, const nlohmann::json& value, const std::string& source) {
  const std::string where = "tensor " + in_quotes(name);
  if (!value.is_object()) fail(source, where + ": entry is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) fail(source, where + ": missing field '" + field + "'");

  TensorInfo info;
  info.name = name;
  const auto& dtype = value["dtype"];
  if (!dtype.is_string()) fail(source, where + ": dtype is not a string");
  const auto parsed = parse_dtype(dtype.get<std::string>());
  if (!parsed) {
    // Dtypes of the format that torch 1.13 cannot hold get their own message.
    static const std::vector<std::string> kFormatOnly = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64"};
    const std::string name = dtype.get<std::string>();
    if (std::find(kFormatOnly.begin(), kFormatOnly.end(), name) != kFormatOnly.end())
      fail(source,
           where + ": dtype " + in_quotes(name) + " is not supported (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    fail(source, where + ": unknown dtype " + in_quotes(name));
  }
  info.dtype = *parsed;

  const auto& shape = value["shape"];
  if (!shape.is_array()) fail(source, where + ": shape is not an array");
  std::uint64_t bytes = dtype_size(info.dtype);
  bool overflow = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::uint64_t dim = read_index(shape[i], where + ": shape[" + std::to_string(i) + "]", source);
    if (dim > static_cast<std::uint64_t>(INT64_MAX)) overflow = true;
    overflow = overflow || __builtin_mul_overflow(bytes, dim, &bytes);
    info.shape.push_back(static_cast<std::int64_t>(dim));
  }
  if (overflow) fail(source, where + ": shape " + shape.dump() + " has a byte size that overflows 64 bits");

  const auto& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) fail(source, where + ": data_offsets must be an array of two integers");
  info.begin = read_index(offsets[0], where + ": data_offsets[0]", source);
  info.end = read_index(offsets[1], where + ": data_offsets[1]", source);
  if (info.end < info.begin)
    fail(source, where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] end before they begin");
  if (info.end - info.begin != bytes)
    fail(source, where + ": " + std::string(dtype_name(info.dtype)) + " shape " + shape.dump() + " needs " + std::to_string(bytes) +
                     " bytes but data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] span " +
                     std::to_string(info.end - info.begin));
  return info;
}

// Checks that the tensors tile the data section exactly: no overlap, nothing out of range, no
// gap, no trailing bytes (the reference implementation rejects all four).
void check_layout(std::vector<TensorInfo> tensors, std::uint64_t data_size, const std::string& source) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t covered = 0;  // end of the contiguous prefix so far
  bool contiguous = true;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (i > 0 && t.begin < tensors[i - 1].end)
      fail(source, "tensors " + in_quotes(tensors[i - 1].name) + " and " + in_quotes(t.name) + " have overlapping data_offsets");
    if (t.begin != covered) contiguous = false;
    covered = std::max(covered, t.end);
  }
  if (covered > data_size) {
    if (contiguous)
      fail(source, "truncated: the header describes " + std::to_string(covered) + " bytes of tensor data but only " +
                       std::to_string(data_size) + " follow it");
    for (const auto& t : tensors)
      if (t.end > data_size)
        fail(source, "tensor " + in_quotes(t.name) + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                         "] are out of range (data section is " + std::to_string(data_size) + " bytes)");
  }
  std::uint64_t expected = 0;
  for (const auto& t : tensors) {
    if (t.begin > expected)
      fail(source, "bytes [" + std::to_string(expected) + ", " + std::to_string(t.begin) + ") of the data section belong to no tensor");
    expected = t.end;
  }
  if (expected < data_size) fail(source, std::to_string(data_size - expected) + " trailing bytes after the last tensor's data");
}

}  // namespace

std::string_view dtype_name(DType dtype) { return entry(dtype).name; }
std::size_t dtype_size(DType dtype) { return entry(dtype).size; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& e : kDTypes)
    if (e.name == name) return e.dtype;
  return std::nullopt;
}

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

const TensorInfo* Header::find(std::string_view name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name, [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

std::uint64_t parse_header_length(const unsigned char* prefix, std::uint64_t file_size, const std::string& source) {
  if (file_size < 8) fail(source, "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length prefix");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];  // little endian
  if (n > kMaxHeaderBytes)
    fail(source, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > file_size - 8)
    fail(source, "header length " + std::to_string(n) + " goes beyond the end of the file (" + std::to_string(file_size) + " bytes)");
  return n;
}

bool is_valid_utf8(std::string_view bytes, std::size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Reject overlong forms, UTF-16 surrogates and code points beyond U+10FFFF.
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

Header parse_header(std::string_view json, std::uint64_t data_size, const std::string& source) {
  std::size_t bad = 0;
  if (!is_valid_utf8(json, &bad)) fail(source, "header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    fail(source, "header is not valid JSON (at byte " + std::to_string(e.byte) + " of the header)");
  } catch (const nlohmann::json::out_of_range&) {
    // nlohmann refuses numbers beyond double (1e400) with its own exception type
    fail(source, "header is not valid JSON (a number is too large for a double)");
  }
  if (!doc.is_object()) fail(source, "header is not a JSON object");

  Header header;
  for (const auto& [key, value] : doc.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(source, "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(source, "__metadata__ value for " + in_quotes(mk) + " is not a string");
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_entry(key, value, source));
  }
  // nlohmann::json keeps object keys sorted, so `tensors` is sorted by name already.
  check_layout(header.tensors, data_size, source);
  return header;
}

std::string serialize_header(const std::vector<TensorInfo>& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json doc = nlohmann::json::object();
  if (!metadata.empty()) doc["__metadata__"] = metadata;
  for (const auto& t : tensors) {
    doc[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text = doc.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace diffedit::safetensors
