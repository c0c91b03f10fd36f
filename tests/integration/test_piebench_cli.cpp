// `diffedit piebench`: a toy dataset exported in PIE-Bench's layout and scored by `piebench
// score` with its own images as the method (identical images: PSNR "inf", MSE 0); the errors
// of missing networks, outputs and categories; `piebench csv` on a hand-written run directory.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "eval/python_format.h"
#include "test_support.h"

using diffedit::testing::read_bytes;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;
using diffedit::testing::write_bytes;
using Json = nlohmann::ordered_json;
using Table = std::vector<std::vector<std::string>>;

namespace {

Table read_csv(const std::filesystem::path& path) {
  const std::string text = read_bytes(path);
  EXPECT_TRUE(text.ends_with("\r\n")) << "csv.writer's line ends";
  return diffedit::eval::parse_python_csv(text, path.string());
}

// A 3-item toy-coco export, written once for the tests of this file.
const std::filesystem::path& toy_export() {
  static ScratchDir dir;
  static const std::filesystem::path out = dir / "export";
  static const bool written = [] {
    const auto r =
        run_cli({"--quiet", "piebench", "export", "--dataset", "toy-coco", "--limit", "3", "--world-seed", "5", "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return true;
  }();
  (void)written;
  return out;
}

std::vector<std::string> mapping_keys(const std::filesystem::path& root) {
  std::vector<std::string> keys;
  const Json mapping = Json::parse(read_bytes(root / "mapping_file.json"));
  for (const auto& [key, _] : mapping.items()) keys.push_back(key);
  return keys;
}

}  // namespace

TEST(PieBenchCli, ExportThenScoreItsOwnImages) {
  const auto& data = toy_export();
  const auto keys = mapping_keys(data);
  ASSERT_EQ(keys.size(), 3u);
  ScratchDir dir;
  const auto r =
      run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", "self=" + (data / "annotation_images").string(),
               "--metrics", "psnr,mse,ssim,psnr_unedit_part,mse_edit_part", "--out", (dir / "r.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Table t = read_csv(dir / "r.csv");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0],
            (std::vector<std::string>{"file_id", "self|psnr", "self|mse", "self|ssim", "self|psnr_unedit_part", "self|mse_edit_part"}));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& row = t[i + 1];
    EXPECT_EQ(row[0], keys[i]) << "rows in the mapping file's order";
    // Identical images: torchmetrics' PSNR is +inf, which Python prints "inf"; MSE 0.0, SSIM 1.0.
    EXPECT_EQ(row[1], "inf");
    EXPECT_EQ(row[2], "0.0");
    EXPECT_EQ(row[3], "1.0");
    EXPECT_TRUE(row[4] == "inf" || row[4] == "nan") << row[4];  // "nan" only if the region covers the image
    EXPECT_EQ(row[5], "0.0");
  }
}

TEST(PieBenchCli, ScoreNamesWhatIsMissing) {
  const auto& data = toy_export();
  ScratchDir dir;
  const std::string self = "self=" + (data / "annotation_images").string();
  // A network the metrics need, by its option.
  auto r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--metrics", "psnr,lpips", "--out",
                    (dir / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: --lpips: ", 0), 0u) << r.err;
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--out", (dir / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 2) << "the default metrics need networks";
  // A method folder without an item's output: an error naming the file, or nan cells.
  std::filesystem::create_directories(dir / "empty");
  const std::string empty = "other=" + (dir / "empty").string();
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--method", empty, "--metrics", "psnr", "--out",
               (dir / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find((dir / "empty").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has no output for item"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "r.csv")) << "no partial CSV";
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--method", empty, "--metrics", "psnr",
               "--missing-as-nan", "--out", (dir / "r.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Table t = read_csv(dir / "r.csv");
  EXPECT_EQ(t[0], (std::vector<std::string>{"file_id", "self|psnr", "other|psnr"}));
  for (std::size_t i = 1; i < t.size(); ++i) EXPECT_EQ(t[i][2], "nan");
  // Categories: ids are checked (evaluate.py's string compare would silently select nothing).
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--metrics", "psnr", "--categories", "12",
               "--out", (dir / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", self, "--metrics", "psnr", "--categories", "9", "--out",
               (dir / "r.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_csv(dir / "r.csv").size(), 1u) << "no style edits in the toy world: the header alone";
  // A bad method argument.
  r = run_cli({"--quiet", "piebench", "score", "--data", data.string(), "--method", "noequals", "--metrics", "psnr", "--out",
               (dir / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: --method: ", 0), 0u) << r.err;
}

TEST(PieBenchCli, ExportOfAToyDatasetNeedsALimit) {
  ScratchDir dir;
  const auto r = run_cli({"--quiet", "piebench", "export", "--dataset", "toy-coco", "--out", (dir / "x").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: --limit: ", 0), 0u) << r.err;
}

TEST(PieBenchCli, CsvOfARunDirectory) {
  ScratchDir dir;
  const auto records = dir / "run" / "records";
  std::filesystem::create_directories(records);
  const auto put = [&](const std::string& key, Json record) {
    record["key"] = key;
    write_bytes(records / (key + ".json"), record.dump(1));
  };
  // PSNR 100 is the runner's stand-in for +inf; structure distances are float32 values widened.
  put("k1", {{"item", "piebench/0"},
             {"item_index", 0},
             {"item_id", "111000000001"},
             {"label", "DiffEdit"},
             {"setting", "r=0.5"},
             {"seed", 0},
             {"status", "ok"},
             {"metrics",
              {{"pie_psnr_unedit_part", 100.0},
               {"pie_structure_distance", 0.00015653204172849655},
               {"pie_lpips_unedit_part", 0.011259900406002998}}}});
  put("k2", {{"item", "piebench/0"},
             {"item_index", 0},
             {"item_id", "111000000001"},
             {"label", "SDEdit"},
             {"setting", "default"},
             {"seed", 0},
             {"status", "ok"},
             {"metrics", {{"pie_structure_distance", 9.79541596279887e-07}}}});  // the background skipped: no pie_psnr_unedit_part
  put("k3", {{"item", "piebench/1"},
             {"item_index", 1},
             {"item_id", "000000000002"},
             {"label", "DiffEdit"},
             {"setting", "r=0.5"},
             {"seed", 0},
             {"status", "failed"},
             {"error", "not finite"}});
  put("k4", {{"item", "toy/2"},  // no item_id: the item names the row
             {"item_index", 2},
             {"label", "SDEdit"},
             {"setting", "default"},
             {"seed", 0},
             {"status", "ok"},
             {"metrics", {{"pie_psnr_unedit_part", 31.5}, {"clip_score", 0.3}}}});

  auto r = run_cli({"--quiet", "piebench", "csv", (dir / "run").string(), "--out", (dir / "r.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(dir / "r.csv"),
            "file_id,DiffEdit/r=0.5|structure_distance,DiffEdit/r=0.5|psnr_unedit_part,DiffEdit/r=0.5|lpips_unedit_part,"
            "SDEdit/default|structure_distance,SDEdit/default|psnr_unedit_part,SDEdit/default|lpips_unedit_part\r\n"
            "111000000001,0.00015653204,inf,0.011259900406002998,9.795416e-07,nan,nan\r\n"
            "000000000002,nan,nan,nan,nan,nan,nan\r\n"
            "toy/2,nan,nan,nan,nan,31.5,nan\r\n");

  r = run_cli({"--quiet", "piebench", "csv", (dir / "run").string(), "--metrics", "psnr_unedit_part", "--out", (dir / "p.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(dir / "p.csv"),
            "file_id,DiffEdit/r=0.5|psnr_unedit_part,SDEdit/default|psnr_unedit_part\r\n"
            "111000000001,inf,nan\r\n000000000002,nan,nan\r\ntoy/2,nan,31.5\r\n");

  // A second seed splits the setting's columns by seed.
  put("k5", {{"item", "toy/2"},
             {"item_index", 2},
             {"label", "SDEdit"},
             {"setting", "default"},
             {"seed", 7},
             {"status", "ok"},
             {"metrics", {{"pie_psnr_unedit_part", 30.25}}}});
  r = run_cli({"--quiet", "piebench", "csv", (dir / "run").string(), "--metrics", "psnr_unedit_part", "--out", (dir / "s.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(dir / "s.csv"),
            "file_id,DiffEdit/r=0.5|psnr_unedit_part,SDEdit/default/seed0|psnr_unedit_part,SDEdit/default/seed7|psnr_unedit_part\r\n"
            "111000000001,inf,nan,nan\r\n000000000002,nan,nan,nan\r\ntoy/2,nan,31.5,30.25\r\n");

  r = run_cli({"--quiet", "piebench", "csv", dir.path().string(), "--out", (dir / "x.csv").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no records/ directory"), std::string::npos) << r.err;
}
