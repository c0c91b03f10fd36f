#include "core/safetensors.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "core/errors.h"
#include "core/fs.h"

// (the compiler's byte-order macro rather than C++20's std::endian: this file is also built as C++17,
// see src/CMakeLists.txt)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little endian; big-endian hosts would need byte swapping");

namespace diffedit::safetensors {

namespace {
struct DTypePair {
  DType dtype;
  c10::ScalarType scalar;
};
constexpr DTypePair kPairs[] = {{DType::F64, c10::kDouble},    {DType::F32, c10::kFloat}, {DType::F16, c10::kHalf},
                                {DType::BF16, c10::kBFloat16}, {DType::I64, c10::kLong},  {DType::I32, c10::kInt},
                                {DType::I16, c10::kShort},     {DType::I8, c10::kChar},   {DType::U8, c10::kByte},
                                {DType::BOOL, c10::kBool}};
}  // namespace

c10::ScalarType to_scalar_type(DType dtype) {
  for (const auto& p : kPairs)
    if (p.dtype == dtype) return p.scalar;
  throw std::logic_error("unhandled safetensors dtype");
}

DType from_scalar_type(c10::ScalarType type) {
  for (const auto& p : kPairs)
    if (p.scalar == type) return p.dtype;
  throw InputError("", std::string("torch dtype ") + c10::toString(type) + " cannot be stored in safetensors");
}

// A read-only view of the whole file, mapped private (copy-on-write) so tensors may be modified
// in place without touching the file.
struct File::Mapping {
  void* base = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (base) ::munmap(base, size);
  }
  const unsigned char* bytes() const { return static_cast<const unsigned char*>(base); }
};

File::File(std::filesystem::path path, std::shared_ptr<const Mapping> mapping, std::uint64_t header_size, Header header)
    : path_(std::move(path)), mapping_(std::move(mapping)), header_size_(header_size), header_(std::move(header)) {}

std::uint64_t File::file_size() const { return mapping_->size; }

File File::open(const std::filesystem::path& path) {
  const std::string source = path.string();
  fs::require_regular_file(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FileError(source, errno_message("cannot open", errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw FileError(source, errno_message("cannot stat", err));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<std::size_t>(st.st_size);
  if (mapping->size > 0) {
    void* base = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw FileError(source, errno_message("cannot memory-map", err));
    }
    mapping->base = base;
  }
  ::close(fd);  // the mapping stays valid

  const std::uint64_t n = parse_header_length(mapping->bytes(), mapping->size, source);
  const std::string_view json(reinterpret_cast<const char*>(mapping->bytes() + 8), n);
  Header header = parse_header(json, mapping->size - 8 - n, source);
  return File(path, std::move(mapping), n, std::move(header));
}

const TensorInfo& File::require(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (!info) throw FormatError(path_.string(), "no tensor named '" + std::string(name) + "'");
  return *info;
}

std::pair<const std::byte*, std::size_t> File::raw(std::string_view name) const {
  const TensorInfo& info = require(name);
  const auto* data = reinterpret_cast<const std::byte*>(mapping_->bytes() + 8 + header_size_ + info.begin);
  return {data, static_cast<std::size_t>(info.nbytes())};
}

at::Tensor File::tensor(std::string_view name) const {
  const TensorInfo& info = require(name);
  const auto [data, nbytes] = raw(name);
  const auto options = at::TensorOptions().dtype(to_scalar_type(info.dtype)).device(c10::kCPU);

  if (info.dtype == DType::BOOL) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < nbytes; ++i)
      if (bytes[i] > 1)
        throw FormatError(path_.string(), "tensor '" + info.name + "': BOOL element " + std::to_string(i) + " has byte value " +
                                              std::to_string(bytes[i]) + ", expected 0 or 1");
  }
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  if (nbytes == 0 || address % dtype_size(info.dtype) != 0) {
    at::Tensor copy = at::empty(info.shape, options);
    if (nbytes > 0) std::memcpy(copy.data_ptr(), data, nbytes);
    return copy;
  }
  auto keep_alive = mapping_;
  return at::from_blob(
      const_cast<std::byte*>(data), info.shape, [keep_alive](void*) {}, options);
}

void write(const std::filesystem::path& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<TensorInfo> infos;
  std::vector<at::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {  // std::map iterates in sorted name order
    if (name.empty()) throw InputError(path.string(), "tensor name is empty");
    if (name == "__metadata__") throw InputError(path.string(), "'__metadata__' is reserved and cannot name a tensor");
    if (!tensor.defined()) throw InputError(path.string(), "tensor '" + name + "' is undefined");
    TensorInfo info;
    info.name = name;
    try {
      info.dtype = from_scalar_type(tensor.scalar_type());
    } catch (const InputError& e) {
      throw InputError(path.string(), "tensor '" + name + "': " + e.problem());
    }
    info.shape.assign(tensor.sizes().begin(), tensor.sizes().end());
    info.begin = offset;
    info.end = offset + static_cast<std::uint64_t>(tensor.numel()) * dtype_size(info.dtype);
    offset = info.end;
    infos.push_back(std::move(info));
    data.push_back(tensor.detach().to(c10::kCPU).contiguous());
  }
  std::string header;
  try {
    header = serialize_header(infos, metadata);
  } catch (const std::exception&) {  // nlohmann refuses strings that are not valid UTF-8
    throw InputError(path.string(), "a tensor name or metadata entry is not valid UTF-8");
  }
  fs::write_atomic(path, [&](std::ostream& out) {
    unsigned char prefix[8];
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) prefix[i] = static_cast<unsigned char>(n & 0xFF);
    out.write(reinterpret_cast<const char*>(prefix), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : data)  // empty tensors may have no storage at all
      if (t.nbytes() > 0) out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  });
}

TensorMap load_all(const std::filesystem::path& path) {
  const File file = File::open(path);
  TensorMap out;
  for (const auto& info : file.tensors()) out.emplace(info.name, file.tensor(info.name));
  return out;
}

}  // namespace diffedit::safetensors
