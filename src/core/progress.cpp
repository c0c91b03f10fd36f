#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/log.h"

namespace diffedit {

namespace {
// Set while a bar is drawn on the terminal, so log lines can erase it first.
std::atomic<bool> g_bar_on_terminal{false};

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }
}  // namespace

namespace progress_detail {
void clear_terminal_line() {
  if (g_bar_on_terminal.exchange(false)) std::cerr << "\r\033[2K" << std::flush;
}
}  // namespace progress_detail

Progress::Progress(std::string label, std::int64_t total, Style style)
    : Progress(std::move(label), total, style, std::cerr,
               std::chrono::milliseconds(style == Style::lines || (style == Style::automatic && !stderr_is_terminal()) ? 1000 : 100)) {}

Progress::Progress(std::string label, std::int64_t total, Style style, std::ostream& out, std::chrono::milliseconds min_interval)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 0)),
      style_(style),
      out_(out),
      min_interval_(min_interval),
      start_(std::chrono::steady_clock::now()),
      last_render_(start_) {
  if (style_ == Style::automatic)
    style_ = log::quiet() ? Style::silent : (stderr_is_terminal() && &out_ == &std::cerr ? Style::bar : Style::lines);
  else if (log::quiet())
    style_ = Style::silent;
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {  // never throw from a destructor
  }
}

std::int64_t Progress::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void Progress::advance(std::int64_t n) {
  std::lock_guard lock(mutex_);
  done_ += n;
  if (style_ == Style::silent || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (rendered_once_ && now - last_render_ < min_interval_ && done_ != total_) return;
  last_render_ = now;
  render(false);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (style_ != Style::silent) render(true);
}

void Progress::set_status(std::string status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

void Progress::render(bool final) {
  rendered_once_ = true;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = format(label_, done_, total_, elapsed, style_ == Style::bar ? 24 : 0);
  if (!status_.empty()) line += "  " + status_;
  if (style_ == Style::bar) {
    out_ << "\r\033[2K" << line;
    if (final) {
      out_ << '\n';
      g_bar_on_terminal = false;
    } else {
      g_bar_on_terminal = true;
    }
    out_ << std::flush;
  } else {
    out_ << line << '\n' << std::flush;
  }
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char buf[32];
  if (h > 0)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", m, s);
  return buf;
}

std::string Progress::format(const std::string& label, std::int64_t done, std::int64_t total, double elapsed_seconds, int bar_width) {
  std::ostringstream out;
  out << label << "  " << done;
  if (total > 0) {
    const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
    out << '/' << total << "  " << std::setw(3) << static_cast<int>(fraction * 100.0) << '%';
    if (bar_width > 0) {
      const int filled = static_cast<int>(fraction * bar_width);
      out << "  |" << std::string(filled, '#') << std::string(bar_width - filled, ' ') << '|';
    }
  }
  const double rate = elapsed_seconds > 0 ? static_cast<double>(done) / elapsed_seconds : 0.0;
  out << "  " << std::fixed << std::setprecision(rate < 10 ? 2 : 1) << rate << " it/s";
  out << "  elapsed " << format_duration(elapsed_seconds);
  if (total > 0 && done < total) out << "  eta " << (rate > 0 ? format_duration(static_cast<double>(total - done) / rate) : "--:--");
  return out.str();
}

}  // namespace diffedit
