#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>

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

// Without a user's count, loading a model fits the thread count to one call's work (one thread
// per libtorch grain of 32768 elements, 1 to every CPU), and a second model only raises it; a
// count from --threads or OMP_NUM_THREADS stays.
TEST(Resources, ThreadsFitTheLargestModelUnlessTheUserChose) {
  using namespace diffedit::resources;
  {
    ScopedOmpThreads env(nullptr);
    choose_threads(0);
    EXPECT_EQ(at::get_num_threads(), usable_cpus());
    EXPECT_EQ(threads_choice(), "every CPU");
    fit_threads_to_work(2 * 32 * 16 * 16);  // the toy UNet: a guided call at 16x16, 32 channels
    EXPECT_EQ(at::get_num_threads(), 1);
    EXPECT_EQ(threads_choice(), "fitted to 16384 elements per call");
    fit_threads_to_work(2 * 320 * 64 * 64);  // Stable Diffusion 1.5 at 512x512: 80 grains
    EXPECT_EQ(at::get_num_threads(), std::min(usable_cpus(), 80));
    fit_threads_to_work(1000);  // a smaller model after it does not lower the count
    EXPECT_EQ(at::get_num_threads(), std::min(usable_cpus(), 80));
    choose_threads(3);
    fit_threads_to_work(16384);
    EXPECT_EQ(at::get_num_threads(), 3);
    EXPECT_EQ(threads_choice(), "--threads");
  }
  {
    ScopedOmpThreads env("2");
    choose_threads(0);
    fit_threads_to_work(2 * 320 * 64 * 64);
    EXPECT_EQ(at::get_num_threads(), 2);
    EXPECT_EQ(threads_choice(), "OMP_NUM_THREADS");
  }
  choose_threads(0);  // back to this process's environment
}
