// The bad-input corpus (tests/data/bad/cases.json) through the real `diffedit` executable: every
// case exits with its code and prints exactly one line, "error: ...", naming the file or argument
// and the problem. No crash, no uncaught exception, no second line.
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/config.h"
#include "test_support.h"

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST(BadInput, EveryCaseOfTheCorpusFailsCleanly) {
  const auto root = diffedit::testing::source_dir();
  const auto cases = diffedit::config::load_json(root / "tests" / "data" / "bad" / "cases.json")["cases"];
  ASSERT_GE(cases.size(), 30u);
  ASSERT_EQ(::chdir(root.c_str()), 0);  // the cases' paths are relative to the source tree
  for (const auto& c : cases) {
    diffedit::testing::ScratchDir tmp;
    std::vector<std::string> args = {"-q"};
    for (const auto& a : c["args"]) args.push_back(replace_all(a.get<std::string>(), "{tmp}", tmp.path().string()));
    const auto r = diffedit::testing::run_cli(args);
    const std::string name = c["name"];
    EXPECT_EQ(r.exit_code, c["exit"].get<int>()) << name << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << name << ": one line expected\n" << r.err;
    EXPECT_NE(r.err.find(c["error"].get<std::string>()), std::string::npos) << name << "\nexpected: " << c["error"] << "\ngot: " << r.err;
    EXPECT_EQ(r.err.find("internal"), std::string::npos) << name << ": " << r.err;
  }
}
