#include "core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace diffedit::fs {

void require_regular_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw FileError(path.string(), "no such file");
  if (std::filesystem::is_directory(status))
    throw FileError(path.string(), "is a directory, expected a file");
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
  auto name = path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
              std::to_string(counter++);
  return path.parent_path() / name;
}

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw FileError(path.string(), errno_message("cannot open for fsync", errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Directories on some file systems refuse fsync with EINVAL; the rename is still atomic there.
  if (rc != 0 && !(err == EINVAL && (flags & O_DIRECTORY)))
    throw FileError(path.string(), errno_message("fsync failed", err));
}

}  // namespace

void write_atomic(const std::filesystem::path& path,
                  const std::function<void(std::ostream& out)>& write) {
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

}  // namespace diffedit::fs
