#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/fs.h"
#include "test_support.h"

namespace fs = std::filesystem;
using diffedit::testing::ScratchDir;

TEST(Fs, WriteAtomicLeavesOnlyTheFile) {
  ScratchDir dir;
  diffedit::fs::write_atomic(dir / "a.json", "{}\n");
  diffedit::fs::write_atomic(dir / "a.json", "[]\n");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"a.json"});
  EXPECT_EQ(diffedit::testing::read_bytes(dir / "a.json"), "[]\n");
}

TEST(Fs, StaleTemporariesOfDeadWritersAreRemovedLiveOnesKept) {
  ScratchDir dir;
  const std::string dead = std::to_string(diffedit::testing::dead_pid()), live = std::to_string(::getpid());
  for (const std::string& name : std::vector<std::string>{"k.json.tmp." + dead + ".0", "k.png.tmp." + dead + ".17",
                                                          "k.json.tmp." + live + ".3", "k.json", "notes.tmp.txt", "k.json.tmp.x.1"})
    diffedit::testing::write_bytes(dir / name, "x");
  fs::create_directories(dir / ("sub.tmp." + dead + ".1"));  // not a file write_atomic makes

  EXPECT_EQ(diffedit::fs::remove_stale_temporaries(dir.path()), 2);
  EXPECT_FALSE(fs::exists(dir / ("k.json.tmp." + dead + ".0")));
  EXPECT_FALSE(fs::exists(dir / ("k.png.tmp." + dead + ".17")));
  for (const std::string& kept :
       std::vector<std::string>{"k.json.tmp." + live + ".3", "k.json", "notes.tmp.txt", "k.json.tmp.x.1", "sub.tmp." + dead + ".1"})
    EXPECT_TRUE(fs::exists(dir / kept)) << kept;
  EXPECT_EQ(diffedit::fs::remove_stale_temporaries(dir / "missing"), 0);
}
