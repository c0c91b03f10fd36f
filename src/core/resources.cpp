#include "core/resources.h"

#include <sched.h>
#include <sys/resource.h>

#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>  // at::internal::GRAIN_SIZE
#include <c10/util/Exception.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <new>
#include <sstream>

#include "core/errors.h"

namespace diffedit::resources {

namespace {

std::optional<double> g_budget;

// The data segment the process already holds (VmData in /proc/self/status), in bytes: libraries'
// state, and under AddressSanitizer its shadow reservation, which would exceed any absolute cap.
std::uint64_t data_in_use() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmData:", 0) == 0) return std::stoull(line.substr(7)) * 1024;  // "VmData:  123 kB"
  return 0;
}

}  // namespace

void set_memory_budget(double gib) {
  if (!std::isfinite(gib) || gib <= 0) throw InputError("--memory-budget", "must be a positive number of GiB");
  const double bytes = gib * 1024.0 * 1024.0 * 1024.0;
  rlimit limit{};
  if (getrlimit(RLIMIT_DATA, &limit) != 0) throw InputError("--memory-budget", errno_message("getrlimit", errno));
  const auto wanted = static_cast<rlim_t>(bytes) + data_in_use();
  if (limit.rlim_max != RLIM_INFINITY && wanted > limit.rlim_max)
    throw InputError("--memory-budget", "larger than the hard limit of this process (ulimit -d)");
  limit.rlim_cur = wanted;
  if (setrlimit(RLIMIT_DATA, &limit) != 0) throw InputError("--memory-budget", errno_message("setrlimit", errno));
  g_budget = gib;
}

std::optional<double> memory_budget() { return g_budget; }

bool is_allocation_failure(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e))
    return std::string(c10->what_without_backtrace()).find("can't allocate memory") != std::string::npos;
  return false;
}

std::string allocation_failure_message(const std::exception& e) {
  std::ostringstream out;
  out << "out of memory";
  if (g_budget) out << ": the memory budget of " << *g_budget << " GiB (--memory-budget) is exceeded";
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    std::string detail = c10->what_without_backtrace();
    if (const auto eol = detail.find('\n'); eol != std::string::npos) detail.resize(eol);
    out << " (" << detail << ")";
  }
  out << "; raise the budget or reduce the work (mask samples, image size); results already written are kept "
         "and a re-run of `diffedit run` resumes from them";
  return out.str();
}

namespace {
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return 1;
}
// OMP_NUM_THREADS when it holds a positive count.
std::optional<int> omp_num_threads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env == nullptr) return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  if (end != env && *end == '\0' && n > 0 && n <= 4096) return static_cast<int>(n);
  return std::nullopt;
}
struct ThreadState {
  bool final = false;  // the user's count: models do not change it
  std::string choice = "every CPU";
  std::int64_t work = 0;  // the largest work fitted to so far
};
// Whose count it is: --threads, OMP_NUM_THREADS, or nobody's yet.
ThreadState chosen_by(int user_threads) {
  if (user_threads > 0) return {true, "--threads", 0};
  if (omp_num_threads()) return {true, "OMP_NUM_THREADS", 0};
  return {};
}
// A process that never calls choose_threads (a test, a benchmark) starts from the environment.
ThreadState& thread_state() {
  static ThreadState state = chosen_by(0);
  return state;
}
}  // namespace

void choose_threads(int user_threads) {
  thread_state() = chosen_by(user_threads);
  at::set_num_threads(user_threads > 0 ? user_threads : default_threads());
}

void fit_threads_to_work(std::int64_t elements) {
  ThreadState& s = thread_state();
  if (s.final) return;
  s.work = std::max(s.work, elements);
  const std::int64_t wanted = (s.work + at::internal::GRAIN_SIZE - 1) / at::internal::GRAIN_SIZE;
  at::set_num_threads(static_cast<int>(std::clamp<std::int64_t>(wanted, 1, usable_cpus())));
  s.choice = "fitted to " + std::to_string(s.work) + " elements per call";
}

std::string threads_choice() { return thread_state().choice; }

int default_threads() { return omp_num_threads().value_or(usable_cpus()); }

}  // namespace diffedit::resources
