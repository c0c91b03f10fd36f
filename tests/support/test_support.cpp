#include "test_support.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <unistd.h>
#include <chrono>
#include <thread>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace diffedit::testing {

std::filesystem::path source_dir() { return DIFFEDIT_SOURCE_DIR; }

std::filesystem::path fixtures_root() {
  const char* env = std::getenv("DIFFEDIT_FIXTURES");
  std::filesystem::path root = env && *env ? std::filesystem::path(env) : source_dir() / ".." / "shared" / "fixtures";
  if (!std::filesystem::is_directory(root)) {
    ADD_FAILURE() << "fixtures directory not found: " << root << " (set DIFFEDIT_FIXTURES or place shared/ beside the source tree)";
  }
  return root;
}

std::filesystem::path fixture(const std::string& relative) {
  const auto path = fixtures_root() / relative;
  if (!std::filesystem::exists(path)) ADD_FAILURE() << "fixture missing: " << path;
  return path;
}

std::vector<std::filesystem::path> fixture_safetensors_files() {
  std::vector<std::filesystem::path> files;
  const auto root = fixtures_root();
  if (!std::filesystem::is_directory(root)) return files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "scratch";
  std::replace(name.begin(), name.end(), '/', '_');
  path_ = std::filesystem::path(::testing::TempDir()) /
          ("diffedit-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string error_what(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

CliResult run_cli_killed_after(const std::vector<std::string>& args, int kill_after_ms) {
  ScratchDir dir;
  const auto out_path = dir / "stdout", err_path = dir / "stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(out_path.c_str(), "w", stdout) || !std::freopen(err_path.c_str(), "w", stderr)) _exit(127);
    std::vector<char*> argv;
    std::string exe = DIFFEDIT_CLI_PATH;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  CliResult result;
  int status = 0;
  if (kill_after_ms < 0) {
    ::waitpid(pid, &status, 0);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kill_after_ms);
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_bytes(out_path);
  result.err = read_bytes(err_path);
  return result;
}

CliResult run_cli(const std::vector<std::string>& args) { return run_cli_killed_after(args, -1); }

int dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

}  // namespace diffedit::testing

#include "core/device.h"
#include "parity_support.h"

namespace diffedit::testing {

c10::Device test_device() {
  static const c10::Device device = [] {
    const char* env = std::getenv("DIFFEDIT_TEST_DEVICE");
    const std::string name = env && *env ? env : "cpu";
    try {
      const c10::Device d = parse_device(name, "DIFFEDIT_TEST_DEVICE");
      if (d.is_cuda()) {
        at::globalContext().setAllowTF32CuDNN(false);
        at::globalContext().setAllowTF32CuBLAS(false);
      }
      return d;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return c10::Device(c10::kCPU);
    }
  }();
  return device;
}

at::Tensor on_test_device(const at::Tensor& t) { return t.to(test_device()); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return std::numeric_limits<double>::infinity();
  return (a.to(at::kCPU, at::kDouble) - b.to(at::kCPU, at::kDouble)).abs().max().item<double>();
}

::testing::AssertionResult within(const std::string& what, const at::Tensor& actual, const at::Tensor& expected, double tolerance) {
  const double err = max_abs_diff(actual, expected);
  std::ostringstream msg;
  msg << what << ": max abs error " << err << " (tolerance " << tolerance << ")";
  std::ostringstream property;
  property << err << "/" << tolerance;
  ::testing::Test::RecordProperty(what, property.str());
  if (actual.sizes() != expected.sizes()) msg << ", shape " << actual.sizes() << " vs expected " << expected.sizes();
  if (err <= tolerance) return ::testing::AssertionSuccess() << msg.str();
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace diffedit::testing
