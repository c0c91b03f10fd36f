#!/usr/bin/env bash
# Builds with ASan + UBSan (build-asan/) and runs the test suite under them, leak detection on.
# allocator_may_return_null: the --memory-budget case expects a failed allocation to be reported
# by libtorch (as without ASan), not turned into an ASan abort.
# Extra arguments go to ctest (default: every test).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DIFFEDIT_BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build-asan}
export DIFFEDIT_CMAKE_ARGS="-DDIFFEDIT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DDIFFEDIT_BUILD_BENCHMARKS=OFF ${DIFFEDIT_CMAKE_ARGS:-}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$ROOT/scripts/test.sh" "$@"
