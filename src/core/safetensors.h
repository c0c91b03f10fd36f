// safetensors files as libtorch tensors: memory-mapped, validated reading with lazy per-tensor
// loads, and a writer (sorted names, 8-byte padded header, atomic replace).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/safetensors_header.h"

namespace diffedit::safetensors {

c10::ScalarType to_scalar_type(DType dtype);
// Throws InputError for torch dtypes safetensors cannot store here (complex, quantized, ...).
DType from_scalar_type(c10::ScalarType type);

class File {
 public:
  // Maps the file and validates the header and the data layout. Throws FileError / FormatError
  // naming the file.
  static File open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t file_size() const;
  std::uint64_t header_size() const { return header_size_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // sorted by name
  const TensorInfo* find(std::string_view name) const { return header_.find(name); }
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // Loads one tensor in its stored dtype on the CPU. The tensor shares the mapped pages
  // (copy-on-write: writing to it never touches the file) and keeps the mapping alive; it is
  // copied only when the stored data is not aligned for its dtype. FormatError if the name is
  // absent or a BOOL tensor holds bytes other than 0 and 1.
  at::Tensor tensor(std::string_view name) const;

  // Raw bytes of a tensor's data (valid while this File or a tensor from it lives).
  std::pair<const std::byte*, std::size_t> raw(std::string_view name) const;

 private:
  struct Mapping;
  File(std::filesystem::path path, std::shared_ptr<const Mapping> mapping, std::uint64_t header_size, Header header);
  const TensorInfo& require(std::string_view name) const;

  std::filesystem::path path_;
  std::shared_ptr<const Mapping> mapping_;
  std::uint64_t header_size_ = 0;
  Header header_;
};

// Tensors to write, by name. Any device, dtype from DType's list, any layout (made contiguous).
using TensorMap = std::map<std::string, at::Tensor>;

// Writes `tensors` (sorted by name, contiguous data) and `metadata` to `path` atomically.
// Throws InputError for unsupported dtypes or invalid names, FileError for I/O failures.
void write(const std::filesystem::path& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata = {});

// Loads every tensor of a file (convenience for small files and tests).
TensorMap load_all(const std::filesystem::path& path);

}  // namespace diffedit::safetensors
