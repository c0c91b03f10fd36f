#!/usr/bin/env bash
# Installs every system package diffedit-bench needs (Debian 12, apt only) and configures + builds
# the project. Idempotent: when every package is present it runs no apt command at all.
#
# Usage: scripts/setup.sh [TARGET ...]   build only these CMake targets (quickstart.sh: diffedit);
#                                        no target: everything (tests, benchmarks, fuzzers).
#
# Environment:
#   DIFFEDIT_BUILD_DIR   build directory (default: <repo>/build)
#   DIFFEDIT_CMAKE_ARGS  extra CMake arguments, e.g. "-DDIFFEDIT_SANITIZE=ON"
#   DIFFEDIT_JOBS        parallel build jobs (default: number of cores)
#   DIFFEDIT_TORCH_DIR   a libtorch to build against instead of Debian's: a PyTorch installation's
#                        CMake prefix, e.g. "$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
#                        (a CUDA PyTorch gives a CUDA build; libtorch-dev is still installed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build}
JOBS=${DIFFEDIT_JOBS:-$(nproc)}

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-format-14         # the code's style (.clang-format), checked by the test suite
  libtorch-dev            # libtorch 1.13 (CPU) with its CMake config "Torch"
  libopencv-dev libeigen3-dev libtbb-dev libhdf5-dev nlohmann-json3-dev libcli11-dev libicu-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg62-turbo-dev  # the gpu-check build's codecs, packed by scripts/gpu-check/bundle.sh
  # libtorch links the generic libblas.so.3, which Debian resolves to the slow reference (netlib)
  # BLAS; OpenBLAS's OpenMP build takes over through Debian's alternatives and shares libtorch's
  # OpenMP runtime (2.2x faster UNet calls on the tiny model, far more on real sizes).
  libopenblas0-openmp
  # Debian's Python with PyTorch: the weight converter (scripts/convert_weights.py) and its test.
  python3-torch python3-torchvision python3-numpy python3-pil
  # The run report: trade-off plots (matplotlib) and its rendering test (headless Chromium).
  python3-matplotlib chromium
  # `diffedit launch --slurm` and its test on a single-node cluster (scripts/slurm-local.sh).
  slurmctld slurmd slurm-client munge
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Warnings are errors on the toolchain this script installs (Debian 12's GCC); other toolchains
# (a CUDA libtorch, a newer compiler) may turn it off with DIFFEDIT_CMAKE_ARGS=-DDIFFEDIT_WERROR=OFF.
# shellcheck disable=SC2086
torch_args=()
[ -n "${DIFFEDIT_TORCH_DIR:-}" ] && torch_args=(-DDIFFEDIT_TORCH_DIR="$DIFFEDIT_TORCH_DIR")
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DDIFFEDIT_WERROR=ON "${torch_args[@]}" ${DIFFEDIT_CMAKE_ARGS:-}
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
