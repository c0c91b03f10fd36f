// Small file helpers shared by every reader and writer: whole-file reads with clear errors and
// atomic writes (temporary file + fsync + rename) so a half-written file is never mistaken for a
// complete one.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace diffedit::fs {

// Reads a whole file; FileError naming the path if it is missing, a directory or unreadable.
std::string read_file(const std::filesystem::path& path);

// Throws FileError unless `path` names an existing regular file.
void require_regular_file(const std::filesystem::path& path);

// Writes `path` atomically: `write(out)` fills a temporary file in the same directory, which is
// flushed, fsync'ed and renamed over `path`. On any failure the temporary file is removed and
// `path` is left as it was.
void write_atomic(const std::filesystem::path& path, const std::function<void(std::ostream& out)>& write);
void write_atomic(const std::filesystem::path& path, std::string_view content);

// Removes the temporaries that write_atomic left in `dir` (not recursive) when its process was
// killed mid-write: names `<file>.tmp.<pid>.<n>` whose pid is no live process on this host. A
// live writer's temporaries are kept. Returns how many were removed.
int remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace diffedit::fs
