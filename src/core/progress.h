// A progress indicator for long loops, written to stderr: a redrawn bar with rate and ETA on a
// terminal, one plain line per update (throttled) when stderr is a file or pipe, nothing in quiet
// mode. Safe to advance from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <string>

namespace diffedit {

class Progress {
 public:
  enum class Style { automatic, bar, lines, silent };

  // `total` may be 0 when unknown (then no percentage or ETA is shown).
  Progress(std::string label, std::int64_t total, Style style = Style::automatic);
  // For tests and redirection: writes to `out` instead of stderr.
  Progress(std::string label, std::int64_t total, Style style, std::ostream& out, std::chrono::milliseconds min_interval);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t n = 1);
  // Text shown after the rate and ETA from the next update on (e.g. "loss 0.0481").
  void set_status(std::string status);
  void finish();  // prints the final state once; called by the destructor if needed
  std::int64_t done() const;

  // One status line, e.g. "edit  12/40  30%  |######    |  2.5 it/s  elapsed 00:04  eta 00:11".
  static std::string format(const std::string& label, std::int64_t done, std::int64_t total, double elapsed_seconds, int bar_width);
  // 75 s -> "01:15", 3725 s -> "1:02:05".
  static std::string format_duration(double seconds);

 private:
  void render(bool final);

  std::string label_;
  std::string status_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  Style style_;
  std::ostream& out_;
  std::chrono::milliseconds min_interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_render_;
  bool rendered_once_ = false;
  bool finished_ = false;
  mutable std::mutex mutex_;
};

namespace progress_detail {
// Used by the logger: if a bar is drawn on the terminal, erase it before printing a log line.
void clear_terminal_line();
}  // namespace progress_detail

}  // namespace diffedit
