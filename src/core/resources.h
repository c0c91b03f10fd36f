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

}  // namespace diffedit::resources
