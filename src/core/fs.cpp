#include "core/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/errors.h"

namespace diffedit::fs {

void require_regular_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw FileError(path.string(), "no such file");
  if (std::filesystem::is_directory(status)) throw FileError(path.string(), "is a directory, expected a file");
  if (!std::filesystem::is_regular_file(status)) throw FileError(path.string(), "not a regular file");
}

std::string read_file(const std::filesystem::path& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string(), errno_message("cannot open", errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FileError(path.string(), "read error");
  return std::move(buffer).str();
}

namespace {

std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  auto name = path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return path.parent_path() / name;
}

bool process_alive(long pid) {
  if (pid <= 0) return true;  // not a pid this code wrote: leave the file alone
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw FileError(path.string(), errno_message("cannot open for fsync", errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Directories on some file systems refuse fsync with EINVAL; the rename is still atomic there.
  if (rc != 0 && !(err == EINVAL && (flags & O_DIRECTORY))) throw FileError(path.string(), errno_message("fsync failed", err));
}

}  // namespace

void write_atomic(const std::filesystem::path& path, const std::function<void(std::ostream& out)>& write) {
  const auto tmp = temporary_sibling(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw FileError(path.string(), errno_message("cannot create", errno));
      write(out);
      out.flush();
      if (!out) throw FileError(path.string(), errno_message("write failed", errno));
    }
    fsync_path(tmp, O_RDONLY);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw FileError(path.string(), "cannot rename temporary file into place: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

void write_atomic(const std::filesystem::path& path, std::string_view content) {
  write_atomic(path, [&](std::ostream& out) { out.write(content.data(), std::ssize(content)); });
}

int remove_stale_temporaries(const std::filesystem::path& dir) {
  static const std::regex temporary(R"(.+\.tmp\.([0-9]{1,9})\.[0-9]+)");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, temporary) || !entry.is_regular_file(ec)) continue;
    if (process_alive(std::stol(m[1].str()))) continue;
    removed += std::filesystem::remove(entry.path(), ec) ? 1 : 0;
  }
  return removed;
}

}  // namespace diffedit::fs
