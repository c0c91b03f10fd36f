#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "core/resources.h"

namespace {
// Sets OMP_NUM_THREADS for one scope and restores what was there.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(const char* value) {
    if (const char* old = std::getenv("OMP_NUM_THREADS")) old_ = old;
    if (value)
      ::setenv("OMP_NUM_THREADS", value, 1);
    else
      ::unsetenv("OMP_NUM_THREADS");
  }
  ~ScopedOmpThreads() {
    if (old_)
      ::setenv("OMP_NUM_THREADS", old_->c_str(), 1);
    else
      ::unsetenv("OMP_NUM_THREADS");
  }

 private:
  std::optional<std::string> old_;
};

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}
}  // namespace

TEST(Resources, DefaultThreadsFollowOmpNumThreadsThenTheUsableCpus) {
  using diffedit::resources::default_threads;
  {
    ScopedOmpThreads env("3");
    EXPECT_EQ(default_threads(), 3);
  }
  {
    ScopedOmpThreads env(nullptr);
    EXPECT_EQ(default_threads(), usable_cpus());
  }
  // Values that are not a positive count fall back to the CPUs.
  for (const char* bad : {"", "0", "-2", "4x", "lots"}) {
    ScopedOmpThreads env(bad);
    EXPECT_EQ(default_threads(), usable_cpus()) << "'" << bad << "'";
  }
}
