// PIE-Bench's evaluate.py end to end (fixture: piebench-v1): eval::evaluate_piebench on the
// fixture's data/ and the method's output folder writes expected/evaluation_result.csv (what the
// unmodified evaluate.py wrote) cell for cell, the CLIP columns left out (stubbed there). Cells
// whose value is the reference's are the same string; LPIPS and structure distance may differ in
// their last digits, within the README's tolerances; the count of exact cells is printed.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "eval/piebench_eval.h"
#include "eval/python_format.h"
#include "generated_weights.h"
#include "models/dino_vit.h"
#include "parity_support.h"
#include "piebench_tolerances.h"
#include "test_support.h"

namespace m = diffedit::metrics;
namespace ev = diffedit::eval;
using diffedit::config::Json;
using diffedit::testing::fixture;

namespace {

const std::string kRoot = "piebench-v1/";
// evaluate.py's all_tgt_image_folders["1_ddim+p2p"], relative to its working directory.
const std::string kTargetFolder = "output/ddim+p2p/annotation_images";

// The LPIPS squeeze network from this set's weights_spec.json (the metrics-v1 rule, this set's seeds).
m::PerceptualDistance generated_squeeze() {
  const diffedit::testing::ScratchDir dir;
  return m::PerceptualDistance::load("lpips-squeeze", diffedit::testing::write_piebench_squeeze(dir.path()));
}

double number(const std::string& text) {
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  EXPECT_TRUE(r.ec == std::errc() && r.ptr == text.data() + text.size()) << "'" << text << "' is not a number";
  return v;
}

// The metric of a header cell "<method>|<metric>".
const m::PieBenchMetric& spec_of(const std::string& column) { return m::piebench_metric_spec(column.substr(column.find('|') + 1)); }

using Table = std::vector<std::vector<std::string>>;

// The table without the columns whose metric is a CLIP similarity.
Table without_clip(const Table& table) {
  std::vector<bool> keep;
  for (std::size_t c = 0; c < table.front().size(); ++c)
    keep.push_back(c == 0 || spec_of(table.front()[c]).kind != m::PieBenchKind::clip_similarity);
  Table out;
  for (const auto& row : table) {
    out.emplace_back();
    for (std::size_t c = 0; c < row.size(); ++c)
      if (keep.at(c)) out.back().push_back(row[c]);
  }
  return out;
}

}  // namespace

TEST(PieBenchEvalParity, WritesEvaluatePysCsv) {
  const std::string expected_text = diffedit::testing::read_bytes(fixture(kRoot + "expected/evaluation_result.csv"));
  const Table expected_all = ev::parse_python_csv(expected_text, "evaluation_result.csv");
  ASSERT_GE(expected_all.size(), 2u);
  // The fixture's CSV is csv.writer's own: it is our writer's output for its cells.
  std::string rewritten;
  for (const auto& row : expected_all) rewritten += ev::python_csv_row(row);
  EXPECT_EQ(rewritten, expected_text);

  const Table expected = without_clip(expected_all);
  const std::string method = diffedit::config::load_json(fixture(kRoot + "expected/metrics.json")).at("tgt_method").get<std::string>();
  std::vector<std::string> metric_names;
  for (std::size_t c = 1; c < expected.front().size(); ++c) {
    const std::string& column = expected.front()[c];
    ASSERT_EQ(column.substr(0, column.find('|')), method);
    metric_names.emplace_back(spec_of(column).name);
  }
  ASSERT_EQ(metric_names.size(), 15u) << "evaluate.py's 18 metrics less the 3 CLIP similarities";

  ev::PieBenchEvalOptions options;
  options.data_root = fixture(kRoot + "data");
  options.methods = {{method, fixture(kRoot + kTargetFolder)}};
  options.metrics = metric_names;
  m::PieBenchNetworks networks;
  networks.lpips = generated_squeeze();
  networks.structure_distance = ev::piebench_structure_distance(diffedit::models::load_dino_vit(fixture(kRoot + "dino_vit_tiny")));
  const Table got = ev::parse_python_csv(ev::evaluate_piebench(options, networks), "ours");

  ASSERT_EQ(got.size(), expected.size());
  std::size_t cells = 0, exact = 0;
  std::map<std::string, std::pair<int, int>> by_metric;  // data cells: metric -> (exact, all)
  for (std::size_t r = 0; r < expected.size(); ++r) {
    ASSERT_EQ(got[r].size(), expected[r].size()) << "row " << r;
    for (std::size_t c = 0; c < expected[r].size(); ++c) {
      const std::string &want = expected[r][c], &have = got[r][c];
      ++cells;
      if (r > 0 && c > 0) by_metric[std::string(spec_of(expected[0][c]).name)].second++;
      if (have == want) {
        ++exact;
        if (r > 0 && c > 0) by_metric[std::string(spec_of(expected[0][c]).name)].first++;
        continue;
      }
      const std::string where = expected[r][0] + " " + expected[0][c];
      ASSERT_TRUE(r > 0 && c > 0) << where << ": '" << have << "' vs '" << want << "'";
      ASSERT_NE(want, "nan") << where << ": the reference skips it, we wrote " << have;
      ASSERT_NE(want, "inf") << where << ": we wrote " << have;
      const m::PieBenchMetric& spec = spec_of(expected[0][c]);
      const double a = number(have), b = number(want);
      // Equal values print equal digits: a difference in the text alone is a formatting bug.
      EXPECT_NE(a, b) << where << ": the same value formatted '" << have << "', evaluate.py '" << want << "'";
      EXPECT_LE(std::abs(a - b), diffedit::testing::piebench_tolerance(spec.kind, b)) << where << ": " << have << " vs " << want;
    }
  }
  std::printf("  [piebench csv] %zu of %zu cells (header and file ids included) are evaluate.py's strings exactly\n", exact, cells);
  for (const auto& [name, n] : by_metric) std::printf("  [piebench csv]   %-30s %d/%d exact\n", name.c_str(), n.first, n.second);
  ::testing::Test::RecordProperty("exact_cells", std::to_string(exact) + "/" + std::to_string(cells));
}

// Every number the reference wrote is what our formatter writes for that value: Python floats
// for PSNR, LPIPS, MSE, SSIM, numpy's float32 str for structure distance.
TEST(PieBenchEvalParity, FormatterRewritesEveryReferenceCell) {
  const Json metrics = diffedit::config::load_json(fixture(kRoot + "expected/metrics.json"));
  std::size_t checked = 0;
  for (const auto& [key, item] : metrics.at("items").items()) {
    for (const auto& [name, text] : item.at("csv_strings").items()) {
      const m::PieBenchMetric& spec = m::piebench_metric_spec(name);
      const std::string want = text.get<std::string>();
      const Json& value = item.at("values").at(name);
      if (value.is_null()) continue;  // CLIP, not computed
      const auto v = value.is_string() && value.get<std::string>() == "nan" ? m::PieBenchValue::skipped()
                     : value.is_string()                                    ? m::PieBenchValue::computed(number(value.get<std::string>()))
                                                                            : m::PieBenchValue::computed(value.get<double>());
      EXPECT_EQ(ev::piebench_cell(spec, v), want) << key << " " << name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
}

TEST(PieBenchEvalParity, DefaultMetricsAreEvaluatePys) {
  const Json metrics = diffedit::config::load_json(fixture(kRoot + "expected/metrics.json"));
  EXPECT_EQ(ev::piebench_default_metrics(), metrics.at("paper_default_metrics").get<std::vector<std::string>>());
  EXPECT_EQ(ev::resolve_piebench_metrics({}), ev::piebench_default_metrics());
}

TEST(PieBenchEvalParity, MissingNetworkIsNamedBeforeScoring) {
  ev::PieBenchEvalOptions options;
  options.data_root = fixture(kRoot + "data");
  options.methods = {{"m", fixture(kRoot + kTargetFolder)}};
  try {
    ev::evaluate_piebench(options, {});  // the default metrics need DINO, LPIPS and CLIP
    FAIL() << "expected an InputError";
  } catch (const diffedit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("structure_distance needs a DINO model"), std::string::npos) << e.what();
  }
}
