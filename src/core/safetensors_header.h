// The safetensors format, without any tensor library: dtypes and strict header validation.
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
// then the data section; offsets are relative to the end of the header. Every check below is the
// one the format's reference implementation makes, so a file accepted here loads everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diffedit::safetensors {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::string_view dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);
std::size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets into the data section
  std::uint64_t end = 0;
  std::uint64_t numel() const;
  std::uint64_t nbytes() const { return end - begin; }
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // sorted by name
  const TensorInfo* find(std::string_view name) const;
};

inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Validates the 8-byte prefix against the file size and returns the header length N.
// `source` names the file in error messages.
std::uint64_t parse_header_length(const unsigned char* prefix, std::uint64_t file_size, const std::string& source);

// Parses and validates the JSON header; `data_size` is the number of bytes after the header.
// Throws FormatError("<source>", "<problem>") for every violation.
Header parse_header(std::string_view json, std::uint64_t data_size, const std::string& source);

// Serialises a header (tensors in the order given) padded with spaces to a multiple of 8 bytes.
std::string serialize_header(const std::vector<TensorInfo>& tensors, const std::map<std::string, std::string>& metadata);

// Reports whether `bytes` is well-formed UTF-8; on failure sets `bad_offset`.
bool is_valid_utf8(std::string_view bytes, std::size_t* bad_offset = nullptr);

}  // namespace diffedit::safetensors
