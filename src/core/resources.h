// Process-wide resource limits, set once from the command line: a memory budget that turns an
// allocation beyond it into a clear error (instead of the OS killing the process), the largest
// image the readers accept, and the default CPU thread count.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

namespace diffedit::resources {

// Lets the process allocate `gib` GiB beyond what it holds now, by capping its data segment
// (RLIMIT_DATA: heap and private anonymous mappings, which is where every tensor lives). An
// allocation beyond it then fails inside libtorch or operator new, where the error can be
// reported and everything already written is kept, instead of the OS killing the process.
// InputError for a budget that is not positive or cannot be set.
void set_memory_budget(double gib);
std::optional<double> memory_budget();

// True for std::bad_alloc and libtorch's allocation failures.
bool is_allocation_failure(const std::exception& e);
// The one-line explanation printed for an allocation failure.
std::string allocation_failure_message(const std::exception& e);

// The CPU threads to use when --threads is not given: OMP_NUM_THREADS when it holds a positive
// number (the convention libtorch and OpenMP follow), otherwise the CPUs this process may run on
// (sched_getaffinity). libtorch's own default counts physical cores through cpuinfo, which gives
// 1 on some virtual machines with 2 usable cores.
int default_threads();

// libtorch's thread count for the process. A count the user chose (--threads, or OMP_NUM_THREADS
// holding a positive number) is final. Without one the process starts on every usable CPU, and
// loading a model fits the count to the work of one of its calls (fit_threads_to_work): one
// thread per at::internal::GRAIN_SIZE elements of its largest activation, the size below which
// libtorch itself runs a loop serially, at least 1 and at most every CPU. Why: every operator
// splits its work across an OpenMP team that meets at a barrier, thousands of times per edit on a
// small model. Alone, a second thread gains little there; beside a busy process the team's second
// thread is descheduled and every barrier waits out a scheduler slice (the toy quickstart's first
// item on 2 vCPUs, bench_runner BesideBusy: two threads 4.4 s alone, 36.2 s beside one busy
// process; one thread 5.2 s and 5.6 s). Stable Diffusion (2.6 M elements per guided call) keeps
// every CPU.
void choose_threads(int user_threads);  // --threads, or 0 when not given
void fit_threads_to_work(std::int64_t elements);
// How the current count was chosen, for run records: "--threads", "OMP_NUM_THREADS", "every CPU"
// or "fitted to N elements per call".
std::string threads_choice();

}  // namespace diffedit::resources
