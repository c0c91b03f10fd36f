#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite with ctest. Extra arguments go to
# ctest, e.g. `scripts/test.sh -L parity` or `scripts/test.sh -R Safetensors`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh"
# ctest runs one test per core; one thread per test keeps them from contending for the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j "${DIFFEDIT_JOBS:-$(nproc)}" "$@"
