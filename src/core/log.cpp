#include "core/log.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "core/progress.h"

namespace diffedit::log {

namespace {
std::atomic<Level> g_level{Level::info};
std::atomic<bool> g_quiet{false};
std::mutex g_mutex;

const char* name_of(Level level) {
  switch (level) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "?";
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_quiet ? Level::error : g_level.load(); }

std::optional<Level> parse_level(std::string_view name) {
  for (Level l : {Level::error, Level::warn, Level::info, Level::debug})
    if (name == name_of(l)) return l;
  return std::nullopt;
}

void set_quiet(bool quiet) { g_quiet = quiet; }
bool quiet() { return g_quiet; }

void write(Level level, const std::string& message) {
  std::lock_guard lock(g_mutex);
  progress_detail::clear_terminal_line();
  std::cerr << '[' << name_of(level) << "] " << message << '\n';
}

}  // namespace diffedit::log
