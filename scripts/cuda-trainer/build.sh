#!/usr/bin/env bash
# Builds the toy-sd trainer alone (diffedit-train-toy-sd: the `diffedit train` code for toy-sd)
# against the libtorch inside a PyTorch installation, e.g. a CUDA one: the project's CMake build
# with -DDIFFEDIT_TRAINER_ONLY=ON, which needs only libtorch, ICU and nlohmann_json (no OpenCV,
# HDF5, TBB or OpenSSL). Give a prefix holding ICU's and nlohmann_json's include/, lib/ and CMake
# files with DEPS when they are not installed system-wide.
#
#   scripts/cuda-trainer/build.sh [OUT_BINARY]      (default build-cuda/diffedit-train-toy-sd)
#   env: PYTHON (python3), TORCH (the torch package dir; default: asked from $PYTHON), DEPS, JOBS,
#        BUILD_DIR (default: OUT_BINARY's folder/cmake)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-cuda/diffedit-train-toy-sd}
py=${PYTHON:-python3}
torch_dir=${TORCH:-$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
build=${BUILD_DIR:-$(dirname "$out")/cmake}
prefixes="$torch_dir/share/cmake${DEPS:+;$DEPS;$DEPS/usr}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDIFFEDIT_TRAINER_ONLY=ON \
  -DDIFFEDIT_TORCH_DIR="$torch_dir/share/cmake" -DCMAKE_PREFIX_PATH="$prefixes" -DDIFFEDIT_USE_PCH=ON
cmake --build "$build" --target diffedit-train-toy-sd -j "${JOBS:-$(nproc)}"
mkdir -p "$(dirname "$out")"
cp "$build/src/diffedit-train-toy-sd" "$out"
echo "built $out (torch $torch_dir)"
