// safetensors reader/writer: round trips of every dtype, the writer's layout, and one test per
// malformed-file case with the exact error message.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "core/safetensors.h"
#include "test_support.h"

namespace st = diffedit::safetensors;
using diffedit::testing::read_bytes;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;

namespace {

// Builds a file from a header text and data bytes; `declared` overrides the header length.
std::string make_file(const std::string& header, const std::string& data, std::optional<std::uint64_t> declared = {}) {
  std::uint64_t n = declared.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) out[i] = static_cast<char>(n & 0xFF);
  return out + header + data;
}

// Writes the file and returns the FormatError message (problem part) that opening it raises.
std::string open_error(const ScratchDir& dir, const std::string& bytes) {
  const auto path = dir / "bad.safetensors";
  write_bytes(path, bytes);
  try {
    st::File::open(path);
  } catch (const diffedit::FormatError& e) {
    EXPECT_EQ(e.source(), path.string());
    EXPECT_EQ(std::string(e.what()), path.string() + ": " + e.problem());
    EXPECT_EQ(e.exit_code(), diffedit::kExitBadInput);
    return e.problem();
  }
  ADD_FAILURE() << "opening the file did not fail";
  return "";
}

at::Tensor random_tensor(st::DType dtype, const std::vector<std::int64_t>& shape, std::mt19937_64& rng) {
  // Random bytes reinterpreted as the dtype: every bit pattern (NaN payloads, subnormals, ...) must survive.
  const auto type = st::to_scalar_type(dtype);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  auto* bytes = static_cast<std::uint8_t*>(t.data_ptr());
  for (std::size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<std::uint8_t>(rng());
  if (dtype == st::DType::BOOL)
    for (std::size_t i = 0; i < t.nbytes(); ++i) bytes[i] &= 1;
  return t;
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto ac = a.contiguous(), bc = b.contiguous();
  if (ac.nbytes() != bc.nbytes()) return false;
  return ac.nbytes() == 0 || std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;  // no memcmp on null
}

const std::vector<st::DType> kAllDTypes = {st::DType::F64, st::DType::F32, st::DType::F16, st::DType::BF16, st::DType::I64,
                                           st::DType::I32, st::DType::I16, st::DType::I8,  st::DType::U8,   st::DType::BOOL};

}  // namespace

TEST(Safetensors, DTypeNamesSizesAndTorchTypes) {
  EXPECT_EQ(st::dtype_name(st::DType::BF16), "BF16");
  EXPECT_EQ(st::dtype_size(st::DType::F64), 8u);
  EXPECT_EQ(st::dtype_size(st::DType::BOOL), 1u);
  EXPECT_EQ(st::parse_dtype("I16"), st::DType::I16);
  EXPECT_FALSE(st::parse_dtype("f32").has_value());
  for (auto d : kAllDTypes) {
    EXPECT_EQ(st::from_scalar_type(st::to_scalar_type(d)), d);
    EXPECT_EQ(c10::elementSize(st::to_scalar_type(d)), st::dtype_size(d));
  }
  EXPECT_THROW(st::from_scalar_type(c10::kComplexFloat), diffedit::InputError);
}

TEST(Safetensors, RoundTripPropertyEveryDType) {
  ScratchDir dir;
  std::mt19937_64 rng(20231125);
  for (int trial = 0; trial < 25; ++trial) {
    st::TensorMap tensors;
    std::map<std::string, std::string> metadata;
    const int count = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      const auto dtype = kAllDTypes[rng() % kAllDTypes.size()];
      std::vector<std::int64_t> shape(rng() % 5);                      // 0-dim included
      for (auto& d : shape) d = static_cast<std::int64_t>(rng() % 6);  // size-0 dims included
      tensors["t" + std::to_string(rng() % 1000) + "." + std::string(st::dtype_name(dtype))] = random_tensor(dtype, shape, rng);
    }
    if (trial % 2) metadata = {{"format", "pt"}, {"trial", std::to_string(trial)}, {"note", "ünïcødé ✓"}};
    const auto path = dir / ("rt" + std::to_string(trial) + ".safetensors");
    st::write(path, tensors, metadata);

    const auto file = st::File::open(path);
    EXPECT_EQ(file.metadata(), metadata);
    ASSERT_EQ(file.tensors().size(), tensors.size());
    for (const auto& [name, expected] : tensors) {
      ASSERT_TRUE(file.contains(name)) << name;
      const at::Tensor got = file.tensor(name);
      EXPECT_TRUE(same_bytes(got, expected)) << "trial " << trial << " tensor " << name;
    }
  }
}

TEST(Safetensors, WriterLayoutSortedPaddedContiguous) {
  ScratchDir dir;
  const auto path = dir / "layout.safetensors";
  st::write(path, {{"zeta", at::arange(3, at::kFloat)}, {"alpha", at::ones({2, 2}, at::kDouble)}, {"mid", at::zeros({5}, at::kByte)}},
            {{"format", "pt"}});
  const std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to a multiple of 8";
  EXPECT_EQ((8 + n) % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' ') + 1 + (n - header.find_last_not_of(' ') - 1), n);
  const auto json = nlohmann::json::parse(header);
  EXPECT_EQ(json["alpha"]["data_offsets"], nlohmann::json({0, 32}));
  EXPECT_EQ(json["mid"]["data_offsets"], nlohmann::json({32, 37}));
  EXPECT_EQ(json["zeta"]["data_offsets"], nlohmann::json({37, 49}));
  EXPECT_EQ(json["__metadata__"]["format"], "pt");
  EXPECT_EQ(bytes.size(), 8 + n + 49);
}

TEST(Safetensors, WriterAcceptsNonContiguousAndRejectsBadInput) {
  ScratchDir dir;
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  st::write(dir / "t.safetensors", {{"transposed", base.t()}});
  EXPECT_TRUE(at::equal(st::File::open(dir / "t.safetensors").tensor("transposed"), base.t()));

  const auto bad = dir / "bad.safetensors";
  try {
    st::write(bad, {{"c", at::zeros({2}, at::kComplexFloat)}});
    FAIL() << "complex tensors must be refused";
  } catch (const diffedit::InputError& e) {
    EXPECT_EQ(e.problem(), "tensor 'c': torch dtype ComplexFloat cannot be stored in safetensors");
  }
  EXPECT_THROW(st::write(bad, {{"__metadata__", at::zeros({1})}}), diffedit::InputError);
  EXPECT_THROW(st::write(bad, {{"", at::zeros({1})}}), diffedit::InputError);
  EXPECT_THROW(st::write(bad, {{"x", at::Tensor()}}), diffedit::InputError);
  EXPECT_FALSE(std::filesystem::exists(bad)) << "a refused write must leave no file";
  EXPECT_THROW(st::write(dir / "missing-dir" / "x.safetensors", {{"x", at::zeros({1})}}), diffedit::FileError);
}

TEST(Safetensors, TensorsShareTheMappingCopyOnWrite) {
  ScratchDir dir;
  const auto path = dir / "cow.safetensors";
  st::write(path, {{"w", at::arange(16, at::kFloat)}});
  const std::string before = read_bytes(path);
  at::Tensor t;
  {
    const auto file = st::File::open(path);
    t = file.tensor("w");
    const auto [data, nbytes] = file.raw("w");
    EXPECT_EQ(static_cast<const void*>(data), t.data_ptr()) << "aligned data should not be copied";
    EXPECT_EQ(nbytes, 64u);
  }  // the File is gone; the tensor keeps the mapping alive
  EXPECT_FLOAT_EQ(t[15].item<float>(), 15.0f);
  t.mul_(2);  // private mapping: writing must not touch the file
  EXPECT_FLOAT_EQ(t[15].item<float>(), 30.0f);
  EXPECT_EQ(read_bytes(path), before);
}

TEST(Safetensors, UnalignedDataIsCopied) {
  // A header of 9 bytes (not padded) puts the data at offset 17: not aligned for F32.
  ScratchDir dir;
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string data(8, '\0');
  const float values[2] = {1.5f, -2.25f};
  std::memcpy(data.data(), values, 8);
  std::string padded = header + " ";  // make 8 + N odd
  if ((8 + padded.size()) % 4 == 0) padded += " ";
  write_bytes(dir / "u.safetensors", make_file(padded, data));
  const auto file = st::File::open(dir / "u.safetensors");
  const at::Tensor t = file.tensor("x");
  EXPECT_NE(t.data_ptr(), static_cast<const void*>(file.raw("x").first));
  EXPECT_FLOAT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(t[1].item<float>(), -2.25f);
}

TEST(Safetensors, EmptyFileOfTensorsAndZeroSizedTensor) {
  ScratchDir dir;
  st::write(dir / "e.safetensors", {});
  EXPECT_TRUE(st::File::open(dir / "e.safetensors").tensors().empty());
  st::write(dir / "z.safetensors", {{"z", at::zeros({0, 3})}});
  EXPECT_EQ(st::File::open(dir / "z.safetensors").tensor("z").sizes(), (at::IntArrayRef{0, 3}));
}

TEST(Safetensors, MissingTensorNamed) {
  ScratchDir dir;
  st::write(dir / "m.safetensors", {{"a", at::zeros({1})}});
  try {
    st::File::open(dir / "m.safetensors").tensor("b");
    FAIL();
  } catch (const diffedit::FormatError& e) {
    EXPECT_EQ(e.problem(), "no tensor named 'b'");
  }
}

TEST(Safetensors, MissingFileAndDirectory) {
  ScratchDir dir;
  try {
    st::File::open(dir / "absent.safetensors");
    FAIL();
  } catch (const diffedit::FileError& e) {
    EXPECT_EQ(e.problem(), "no such file");
  }
  try {
    st::File::open(dir.path());
    FAIL();
  } catch (const diffedit::FileError& e) {
    EXPECT_EQ(e.problem(), "is a directory, expected a file");
  }
}

// ---- malformed files: one case each, exact messages ----

TEST(SafetensorsMalformed, ShorterThanEightBytes) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, "abcde"), "file is 5 bytes, shorter than the 8-byte header length prefix");
  EXPECT_EQ(open_error(dir, ""), "file is 0 bytes, shorter than the 8-byte header length prefix");
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file("{}", "", 100)), "header length 100 goes beyond the end of the file (10 bytes)");
}

TEST(SafetensorsMalformed, HeaderLengthOverLimit) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file("{}", "", 200'000'000)), "header length 200000000 exceeds the limit of 100000000 bytes");
  EXPECT_EQ(open_error(dir, make_file("{}", "", ~std::uint64_t{0})),
            "header length 18446744073709551615 exceeds the limit of 100000000 bytes");
}

TEST(SafetensorsMalformed, HeaderNotUtf8) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file("{\"a\xff\":1}", "")), "header is not valid UTF-8 (byte 3 of the header)");
  EXPECT_EQ(open_error(dir, make_file("{\"\xc0\xaf\":1}", "")), "header is not valid UTF-8 (byte 2 of the header)")
      << "overlong encodings are invalid";
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file("{\"a\": ", "")), "header is not valid JSON (at byte 7 of the header)");
  // Found by fuzz/fuzz_safetensors: nlohmann throws its own out_of_range for this.
  EXPECT_EQ(open_error(dir, make_file(R"({"w": {"dtype": "F32", "shape": [5e14000], "data_offsets": [0, 0]}})", "")),
            "header is not valid JSON (a number is too large for a double)");
}

TEST(SafetensorsMalformed, HeaderNotObject) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file("[1, 2]  ", "")), "header is not a JSON object");
}

TEST(SafetensorsMalformed, EntryStructure) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": 3})", "")), "tensor 'x': entry is not a JSON object");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[1]}})", "")), "tensor 'x': missing field 'data_offsets'");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":1,"shape":[1],"data_offsets":[0,4]}})", "")), "tensor 'x': dtype is not a string");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":4,"data_offsets":[0,4]}})", "")),
            "tensor 'x': shape is not an array");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "")),
            "tensor 'x': shape[0] is not an integer (1.5)");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "")),
            "tensor 'x': shape[0] is negative (-1)");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[1],"data_offsets":[0]}})", "")),
            "tensor 'x': data_offsets must be an array of two integers");
}

TEST(SafetensorsMalformed, UnknownDType) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'))),
            "tensor 'x': unknown dtype 'Q4'");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"U16","shape":[1],"data_offsets":[0,2]}})", std::string(2, '\0'))),
            "tensor 'x': dtype 'U16' is not supported (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

TEST(SafetensorsMalformed, ShapeOffsetSizeMismatch) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", std::string(20, '\0'))),
            "tensor 'x': F32 shape [2,3] needs 24 bytes but data_offsets [0, 20] span 20");
}

TEST(SafetensorsMalformed, NegativeOffset) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"U8","shape":[4],"data_offsets":[-4,0]}})", "")),
            "tensor 'x': data_offsets[0] is negative (-4)");
}

TEST(SafetensorsMalformed, OffsetsEndBeforeBegin) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", std::string(8, '\0'))),
            "tensor 'x': data_offsets [8, 4] end before they begin");
}

TEST(SafetensorsMalformed, OverlappingOffsets) {
  ScratchDir dir;
  const std::string header =
      R"({"a": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}, "b": {"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  EXPECT_EQ(open_error(dir, make_file(header, std::string(24, '\0'))), "tensors 'a' and 'b' have overlapping data_offsets");
}

TEST(SafetensorsMalformed, OutOfRangeOffsets) {
  ScratchDir dir;
  const std::string header =
      R"({"a": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}, "b": {"dtype":"F32","shape":[4],"data_offsets":[32,48]}})";
  EXPECT_EQ(open_error(dir, make_file(header, std::string(24, '\0'))),
            "tensor 'b': data_offsets [32, 48] are out of range (data section is 24 bytes)");
}

TEST(SafetensorsMalformed, ElementCountOverflow) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "")),
            "tensor 'x': shape [4294967296,4294967296] has a byte size that overflows 64 bits");
  EXPECT_EQ(open_error(dir, make_file(R"({"x": {"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})", "")),
            "tensor 'x': shape [18446744073709551615] has a byte size that overflows 64 bits")
      << "a dimension beyond int64 cannot become a torch shape";
}

TEST(SafetensorsMalformed, TruncatedData) {
  ScratchDir dir;
  const std::string header =
      R"({"a": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}, "b": {"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
  EXPECT_EQ(open_error(dir, make_file(header, std::string(10, '\0'))),
            "truncated: the header describes 24 bytes of tensor data but only 10 follow it");
}

TEST(SafetensorsMalformed, GapAndTrailingBytes) {
  ScratchDir dir;
  const std::string gap =
      R"({"a": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}, "b": {"dtype":"F32","shape":[2],"data_offsets":[24,32]}})";
  EXPECT_EQ(open_error(dir, make_file(gap, std::string(32, '\0'))), "bytes [16, 24) of the data section belong to no tensor");
  const std::string one = R"({"a": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  EXPECT_EQ(open_error(dir, make_file(one, std::string(20, '\0'))), "4 trailing bytes after the last tensor's data");
}

TEST(SafetensorsMalformed, BadMetadata) {
  ScratchDir dir;
  EXPECT_EQ(open_error(dir, make_file(R"({"__metadata__": [1]})", "")), "__metadata__ is not a JSON object");
  EXPECT_EQ(open_error(dir, make_file(R"({"__metadata__": {"k": 1}})", "")), "__metadata__ value for 'k' is not a string");
}

TEST(SafetensorsMalformed, BoolBytesOtherThanZeroOrOne) {
  ScratchDir dir;
  const auto path = dir / "b.safetensors";
  write_bytes(path, make_file(R"({"m": {"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x00\x07", 3)));
  const auto file = st::File::open(path);  // the header is fine; the data is checked on load
  try {
    file.tensor("m");
    FAIL();
  } catch (const diffedit::FormatError& e) {
    EXPECT_EQ(e.problem(), "tensor 'm': BOOL element 2 has byte value 7, expected 0 or 1");
  }
}
