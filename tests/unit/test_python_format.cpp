// Python-style formatting (eval/python_format.h): repr(float) and numpy's float32 str at their
// notation boundaries, csv.writer's quoting and line ends. Expected strings are Python 3.11's
// (repr, csv) and numpy 1.24's (str of float32; its rule read off scalartypes.c.src).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/errors.h"
#include "eval/piebench_eval.h"
#include "eval/python_format.h"

namespace ev = diffedit::eval;
namespace m = diffedit::metrics;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
float next_up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }
float next_down(float x) { return std::nextafter(x, 0.0f); }
}  // namespace

TEST(PythonFormat, FloatReprPositionalAndScientific) {
  EXPECT_EQ(ev::python_float_repr(0.0), "0.0");
  EXPECT_EQ(ev::python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(ev::python_float_repr(1.0), "1.0");
  EXPECT_EQ(ev::python_float_repr(100.0), "100.0");
  EXPECT_EQ(ev::python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(ev::python_float_repr(0.1), "0.1");
  EXPECT_EQ(ev::python_float_repr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(ev::python_float_repr(123456789.125), "123456789.125");
  EXPECT_EQ(ev::python_float_repr(0.00012), "0.00012");
  EXPECT_EQ(ev::python_float_repr(5e-324), "5e-324");
  EXPECT_EQ(ev::python_float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(ev::python_float_repr(1.2345678901234567e19), "1.2345678901234567e+19");
}

TEST(PythonFormat, FloatReprBoundaries) {
  // Scientific below 1e-4 and from 1e16, with a two-digit exponent at least.
  EXPECT_EQ(ev::python_float_repr(1e-4), "0.0001");
  EXPECT_EQ(ev::python_float_repr(9.999999999999999e-05), "9.999999999999999e-05");
  EXPECT_EQ(ev::python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(ev::python_float_repr(-1e-5), "-1e-05");
  EXPECT_EQ(ev::python_float_repr(9.5e-07), "9.5e-07");
  EXPECT_EQ(ev::python_float_repr(1.5e-10), "1.5e-10");
  EXPECT_EQ(ev::python_float_repr(1e-100), "1e-100");
  EXPECT_EQ(ev::python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(ev::python_float_repr(9007199254740992.0), "9007199254740992.0");
  EXPECT_EQ(ev::python_float_repr(9999999999999998.0), "9999999999999998.0");
  EXPECT_EQ(ev::python_float_repr(1e16), "1e+16");
  EXPECT_EQ(ev::python_float_repr(1.2345e17), "1.2345e+17");
  EXPECT_EQ(ev::python_float_repr(1e100), "1e+100");
}

TEST(PythonFormat, NonFinite) {
  EXPECT_EQ(ev::python_float_repr(kInf), "inf");
  EXPECT_EQ(ev::python_float_repr(-kInf), "-inf");
  EXPECT_EQ(ev::python_float_repr(kNan), "nan");
  EXPECT_EQ(ev::python_float_repr(-kNan), "nan");
  EXPECT_EQ(ev::numpy_float32_str(static_cast<float>(kInf)), "inf");
  EXPECT_EQ(ev::numpy_float32_str(static_cast<float>(-kInf)), "-inf");
  EXPECT_EQ(ev::numpy_float32_str(static_cast<float>(kNan)), "nan");
}

TEST(PythonFormat, Float32StrUsesFloat32Digits) {
  EXPECT_EQ(ev::numpy_float32_str(0.1f), "0.1");
  EXPECT_EQ(ev::python_float_repr(0.1f), "0.10000000149011612");  // the same float32 as a Python float
  EXPECT_EQ(ev::numpy_float32_str(0.0f), "0.0");
  EXPECT_EQ(ev::numpy_float32_str(-0.0f), "-0.0");
  EXPECT_EQ(ev::numpy_float32_str(1.0f), "1.0");
  EXPECT_EQ(ev::numpy_float32_str(16777216.0f), "16777216.0");
  EXPECT_EQ(ev::numpy_float32_str(0.00015653204f), "0.00015653204");
  EXPECT_EQ(ev::numpy_float32_str(9.795416e-07f), "9.795416e-07");
  EXPECT_EQ(ev::numpy_float32_str(-2.5e-05f), "-2.5e-05");
  EXPECT_EQ(ev::numpy_float32_str(1e-45f), "1e-45");
  EXPECT_EQ(ev::numpy_float32_str(3.4028235e38f), "3.4028235e+38");
}

TEST(PythonFormat, Float32StrBoundariesJudgeTheValue) {
  // 1e-4f is 9.99999975e-05: below 1e-4, so scientific, though its shortest digits are "1e-04"
  // (Python's digit rule would print the double 1e-4 as "0.0001").
  EXPECT_EQ(ev::numpy_float32_str(1e-4f), "1e-04");
  EXPECT_EQ(ev::numpy_float32_str(next_up(1e-4f)), "0.000100000005");
  EXPECT_EQ(ev::python_float_repr(1e-4f), "9.999999747378752e-05");
  // 1e16f is 10000000272564224: scientific; the float32 below it is positional, zero-padded.
  EXPECT_EQ(ev::numpy_float32_str(1e16f), "1e+16");
  EXPECT_EQ(ev::numpy_float32_str(next_down(1e16f)), "9999999000000000.0");
  EXPECT_EQ(ev::numpy_float32_str(1e15f), "1000000000000000.0");
}

TEST(PythonFormat, CsvRowQuotesAsCsvWriter) {
  EXPECT_EQ(ev::python_csv_row({"file_id", "1_ddim+p2p|psnr"}), "file_id,1_ddim+p2p|psnr\r\n");
  EXPECT_EQ(ev::python_csv_row({"a,b", "q\"x", "plain", "line\nbreak", "cr\rx", ""}),
            "\"a,b\",\"q\"\"x\",plain,\"line\nbreak\",\"cr\rx\",\r\n");
  EXPECT_EQ(ev::python_csv_row({""}), "\"\"\r\n");
  EXPECT_EQ(ev::python_csv_row({}), "\r\n");
}

TEST(PythonFormat, CsvParseInvertsTheWriter) {
  const std::vector<std::vector<std::string>> rows = {{"a,b", "q\"x", "plain", "line\nbreak", "cr\rx", ""}, {""}, {"1", "nan"}};
  std::string text;
  for (const auto& row : rows) text += ev::python_csv_row(row);
  EXPECT_EQ(ev::parse_python_csv(text, "t"), rows);
  EXPECT_EQ(ev::parse_python_csv("a,b\n\nc", "t"), (std::vector<std::vector<std::string>>{{"a", "b"}, {}, {"c"}}));
  EXPECT_THROW(ev::parse_python_csv("\"open", "t"), diffedit::FormatError);
  EXPECT_THROW(ev::parse_python_csv("\"a\"b", "t"), diffedit::FormatError);
}

TEST(PieBenchEval, CellsAreWhatEvaluatePyPrints) {
  const auto& psnr = m::piebench_metric_spec("psnr_unedit_part");
  const auto& structure = m::piebench_metric_spec("structure_distance");
  EXPECT_EQ(ev::piebench_cell(psnr, m::PieBenchValue::skipped()), "nan");
  EXPECT_EQ(ev::piebench_cell(structure, m::PieBenchValue::skipped()), "nan");
  EXPECT_EQ(ev::piebench_cell(psnr, m::PieBenchValue::computed(kInf)), "inf");
  EXPECT_EQ(ev::piebench_cell(psnr, m::PieBenchValue::computed(24.465351104736328)), "24.465351104736328");
  EXPECT_EQ(ev::piebench_cell(structure, m::PieBenchValue::computed(0.00015653204f)), "0.00015653204");
  EXPECT_EQ(ev::piebench_cell(m::piebench_metric_spec("mse"), m::PieBenchValue::computed(1e-5f)), "9.999999747378752e-06");
}

TEST(PieBenchEval, MetricNamesAreChecked) {
  EXPECT_EQ(ev::resolve_piebench_metrics({"psnr", "ssim_edit_part"}), (std::vector<std::string>{"psnr", "ssim_edit_part"}));
  try {
    ev::resolve_piebench_metrics({"psnr_unedited_part"});
    FAIL();
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'psnr_unedit_part'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ev::resolve_piebench_metrics({"psnr", "psnr"}), diffedit::InputError);
  const auto needs = ev::piebench_network_needs({"psnr", "lpips_edit_part", "structure_distance_unedit_part"});
  EXPECT_TRUE(needs.lpips);
  EXPECT_TRUE(needs.dino);
  EXPECT_FALSE(needs.clip);
}
