// Leveled logging to stderr. Messages are built by streaming the arguments, e.g.
//   log::info("loaded ", n, " tensors from ", path);
// `--quiet` raises the level to errors only and silences progress bars.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace diffedit::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_level(Level level);
Level level();
// Parses "error", "warn", "info", "debug"; nullopt otherwise.
std::optional<Level> parse_level(std::string_view name);

// Quiet mode: only errors are logged and progress bars print nothing.
void set_quiet(bool quiet);
bool quiet();

// Writes one line "[level] message" to stderr (thread-safe; clears a progress bar first).
void write(Level level, const std::string& message);

template <typename... Args>
void emit(Level lvl, const Args&... args) {
  if (static_cast<int>(lvl) > static_cast<int>(level())) return;
  std::ostringstream out;
  (out << ... << args);
  write(lvl, out.str());
}

template <typename... Args>
void error(const Args&... a) {
  emit(Level::error, a...);
}
template <typename... Args>
void warn(const Args&... a) {
  emit(Level::warn, a...);
}
template <typename... Args>
void info(const Args&... a) {
  emit(Level::info, a...);
}
template <typename... Args>
void debug(const Args&... a) {
  emit(Level::debug, a...);
}

}  // namespace diffedit::log
