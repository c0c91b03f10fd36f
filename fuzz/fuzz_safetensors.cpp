// Fuzz target: the safetensors header parser (the 8-byte length prefix and the JSON header), fed
// whole files, the way safetensors::File::open reads them. A header that is accepted must
// describe tensors that lie inside the data section with sizes that match their shapes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/errors.h"
#include "core/safetensors_header.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace diffedit::safetensors;
  if (size < 8) return 0;  // File::open reports this before parsing
  try {
    const std::uint64_t n = parse_header_length(data, size, "fuzz.safetensors");
    FUZZ_CHECK(n <= size - 8);
    const std::string_view json(reinterpret_cast<const char*>(data) + 8, n);
    const std::uint64_t data_size = size - 8 - n;
    const Header header = parse_header(json, data_size, "fuzz.safetensors");
    for (std::size_t i = 0; i < header.tensors.size(); ++i) {
      const TensorInfo& t = header.tensors[i];
      FUZZ_CHECK(t.begin <= t.end && t.end <= data_size);
      FUZZ_CHECK(t.nbytes() == t.numel() * dtype_size(t.dtype));
      FUZZ_CHECK(i == 0 || header.tensors[i - 1].name < t.name);
      FUZZ_CHECK(header.find(t.name) == &t);
    }
  } catch (const diffedit::InputError&) {
    // a clear rejection is the expected outcome for malformed input
  }
  return 0;
}
