// Cross-Attention Control (`p2p`) in the experiments that compare with it: the toy twins of
// Figures 7 (toy-generated, images drawn by the model) and 10 (toy-coco) run its entry of the
// config, cut to one item and one r, through `diffedit run`.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "test_support.h"

using diffedit::config::Json;
using diffedit::testing::run_cli;
using diffedit::testing::ScratchDir;

TEST(P2PExperiments, ToyTwinsOfFigures7And10RunTheirP2PEntry) {
  // The configs name models/ and friends relative to the repository root, where users run them
  // (ctest runs tests in the build tree).
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(diffedit::testing::source_dir());
  struct Restore {
    std::filesystem::path dir;
    ~Restore() { std::filesystem::current_path(dir); }
  } restore{previous};
  for (const char* name : {"imagen-fig7.json", "coco-fig10.json"}) {
    SCOPED_TRACE(name);
    const auto config = diffedit::testing::source_dir() / "configs" / "toy" / name;
    const Json experiment = diffedit::config::load_json(config);
    Json entry;
    for (const auto& m : experiment["methods"])
      if (m["method"] == "p2p") entry = m;
    ASSERT_TRUE(entry.is_object()) << "the config has no p2p entry";
    entry["grid"]["strength"] = Json::array({0.5});
    ScratchDir dir;
    const auto r = run_cli({"-q", "--threads", "1", "run", config.string(), "--out", (dir / "run").string(), "--no-cache",
                            "dataset.limit=1", "steps=4", "methods=" + Json::array({entry}).dump()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Json summary = diffedit::config::load_json(dir / "run" / "summary.json");
    EXPECT_TRUE(summary["failures"].empty()) << summary["failures"];
    const Json& row = summary["metrics"][entry["label"].get<std::string>()]["strength=0.5"];
    EXPECT_EQ(row["n"], 1);
    EXPECT_TRUE(row.contains("lpips") && row.contains("clip_score")) << row;
  }
}
