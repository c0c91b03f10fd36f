#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "core/log.h"
#include "core/progress.h"

using diffedit::Progress;

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(0), "00:00");
  EXPECT_EQ(Progress::format_duration(75), "01:15");
  EXPECT_EQ(Progress::format_duration(3725), "1:02:05");
  EXPECT_EQ(Progress::format_duration(-1), "--:--");
}

TEST(Progress, FormatsLineWithRateAndEta) {
  EXPECT_EQ(Progress::format("edit", 10, 40, 4.0, 0), "edit  10/40   25%  2.50 it/s  elapsed 00:04  eta 00:12");
  EXPECT_EQ(Progress::format("edit", 20, 40, 4.0, 10), "edit  20/40   50%  |#####     |  5.00 it/s  elapsed 00:04  eta 00:04");
  EXPECT_EQ(Progress::format("edit", 40, 40, 4.0, 0), "edit  40/40  100%  10.0 it/s  elapsed 00:04");
  EXPECT_EQ(Progress::format("scan", 7, 0, 2.0, 10), "scan  7  3.50 it/s  elapsed 00:02") << "unknown total";
  EXPECT_EQ(Progress::format("edit", 0, 5, 0.0, 0), "edit  0/5    0%  0.00 it/s  elapsed 00:00  eta --:--");
}

TEST(Progress, LineModeWritesOneLinePerUpdateAndAFinalLine) {
  std::ostringstream out;
  {
    Progress p("work", 3, Progress::Style::lines, out, std::chrono::milliseconds(0));
    p.advance();
    p.advance();
    p.advance();
  }
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;  // 3 updates + final
  EXPECT_NE(text.find("work  1/3"), std::string::npos);
  EXPECT_NE(text.find("work  3/3  100%"), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage returns when not on a terminal";
}

TEST(Progress, StatusFollowsTheRateAndEta) {
  std::ostringstream out;
  {
    Progress p("train", 2, Progress::Style::lines, out, std::chrono::milliseconds(0));
    p.advance();
    p.set_status("loss 0.25");
    p.advance();
  }
  const std::string text = out.str();
  EXPECT_EQ(text.substr(0, text.find('\n')).find("loss"), std::string::npos) << "no status before it is set";
  EXPECT_NE(text.find("elapsed 00:00  loss 0.25\n"), std::string::npos) << text;
}

TEST(Progress, LineModeIsThrottled) {
  std::ostringstream out;
  {
    Progress p("work", 1000, Progress::Style::lines, out, std::chrono::hours(1));
    for (int i = 0; i < 999; ++i) p.advance();
  }
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;  // first update + final
}

TEST(Progress, BarModeRedrawsInPlace) {
  std::ostringstream out;
  {
    Progress p("bar", 2, Progress::Style::bar, out, std::chrono::milliseconds(0));
    p.advance(2);
  }
  EXPECT_NE(out.str().find("\r\033[2K"), std::string::npos);
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(Progress, QuietSilencesAndThreadsCount) {
  diffedit::log::set_quiet(true);
  std::ostringstream out;
  {
    Progress p("q", 2000, Progress::Style::lines, out, std::chrono::milliseconds(0));
    std::thread a([&] {
      for (int i = 0; i < 1000; ++i) p.advance();
    });
    std::thread b([&] {
      for (int i = 0; i < 1000; ++i) p.advance();
    });
    a.join();
    b.join();
    EXPECT_EQ(p.done(), 2000);
  }
  diffedit::log::set_quiet(false);
  EXPECT_TRUE(out.str().empty());
}

TEST(Log, ParsesLevels) {
  using diffedit::log::Level;
  EXPECT_EQ(diffedit::log::parse_level("debug"), Level::debug);
  EXPECT_EQ(diffedit::log::parse_level("warn"), Level::warn);
  EXPECT_FALSE(diffedit::log::parse_level("verbose").has_value());
  diffedit::log::set_quiet(true);
  EXPECT_EQ(diffedit::log::level(), Level::error);
  diffedit::log::set_quiet(false);
}
