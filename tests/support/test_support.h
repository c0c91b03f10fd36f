// Helpers shared by the test suites: fixture lookup, scratch directories, running the CLI.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace diffedit::testing {

// Root of the reference fixtures: $DIFFEDIT_FIXTURES, else ../shared/fixtures beside the source
// tree. A missing directory fails the calling test (never a skip).
std::filesystem::path fixtures_root();
// A file or directory under the fixtures root; fails the test if it does not exist.
std::filesystem::path fixture(const std::string& relative);
// Every *.safetensors file under the fixtures root, sorted.
std::vector<std::filesystem::path> fixture_safetensors_files();

// The project's source tree (for shipped data under tests/data).
std::filesystem::path source_dir();

// A fresh empty directory for the current test, removed when the object is destroyed.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);

// What the diffedit::Error that `f` throws says (its what(): the source and the problem), or
// "(no error)".
std::string error_what(const std::function<void()>& f);

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the built `diffedit` executable with `args` (no shell interpretation of the arguments).
CliResult run_cli(const std::vector<std::string>& args);
// As run_cli, but sends SIGKILL after `kill_after_ms` if the command is still running then
// (exit_code 128 + 9 when it was killed).
CliResult run_cli_killed_after(const std::vector<std::string>& args, int kill_after_ms);
// The pid of a child process that has exited and been reaped: no live process has it (until the
// system reuses it), as for a writer that was killed.
int dead_pid();

}  // namespace diffedit::testing
