#!/usr/bin/env bash
# Builds scripts/cuda-trainer/main.cpp (toy-sd training, the `diffedit train` code) against the
# libtorch inside a PyTorch wheel, e.g. a CUDA one, with only the sources that path needs: no
# OpenCV, HDF5, TBB or OpenSSL. ICU and nlohmann_json headers are needed; give a prefix holding
# include/ and lib/ with DEPS when they are not installed system-wide.
#
#   scripts/cuda-trainer/build.sh [OUT_BINARY]      (default build-cuda/diffedit-train-toy-sd)
#   env: PYTHON (python3), TORCH (the torch package dir; default: asked from $PYTHON), DEPS, JOBS, OPT (-O2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-cuda/diffedit-train-toy-sd}
py=${PYTHON:-python3}
torch_dir=${TORCH:-$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)
jobs=${JOBS:-$(nproc)}
objdir=$(dirname "$out")/obj
mkdir -p "$objdir"

sources=(
  core/errors.cpp core/fs.cpp core/log.cpp core/progress.cpp core/config.cpp core/device.cpp
  core/safetensors_header.cpp core/safetensors.cpp core/rng.cpp
  diffusion/scheduler_config.cpp diffusion/schedulers.cpp
  models/blocks.cpp models/state_dict.cpp models/unet2d_condition.cpp models/clip_text.cpp models/space_to_depth_codec.cpp
  text/prompt_cleaning.cpp text/clip_tokenizer.cpp
  data/toyworld.cpp data/toyworld_presets.cpp
  training/checkpoint.cpp training/loop.cpp training/train_toy_sd.cpp
)
flags=(-std=c++20 ${OPT:--O2} -fopenmp -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$root/src"
       -isystem "$torch_dir/include" -isystem "$torch_dir/include/torch/csrc/api/include")
[[ -n "${DEPS:-}" ]] && flags+=(-isystem "$DEPS/include")

# One compiler per source, $jobs at a time; a failing file prints its errors under its name.
export objdir flags_str="${flags[*]}"
inputs=("${sources[@]/#/$root/src/}" "$root/scripts/cuda-trainer/main.cpp")
printf '%s\n' "${inputs[@]}" | xargs -P "$jobs" -I{} bash -c '
  in={}; obj=$objdir/$(basename "$(dirname "$in")")_$(basename "$in" .cpp).o
  g++ $flags_str -c "$in" -o "$obj" 2>"$obj.log" || { echo "FAILED $in"; head -c 6000 "$obj.log"; exit 1; }' \
  || { echo "build failed" >&2; exit 1; }

libs=(-L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib")
# CUDA kernels register themselves from static initialisers: link libtorch_cuda even though no
# symbol of it is referenced (--no-as-needed), when the wheel has it.
[[ -e "$torch_dir/lib/libtorch_cuda.so" ]] && libs+=(-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed)
libs+=(-ltorch -ltorch_cpu -lc10)
# DT_RPATH rather than RUNPATH: it also serves the libraries' own dependencies (libicuuc -> libicudata).
[[ -n "${DEPS:-}" ]] && libs+=(-L"$DEPS/lib" -Wl,--disable-new-dtags,-rpath,"$DEPS/lib")
libs+=(-licui18n -licuuc -licudata -fopenmp -pthread)
# The wheel's libraries find their own CUDA libraries at run time (their RUNPATH); the linker need not.
libs+=(-Wl,--allow-shlib-undefined)
g++ -o "$out" "$objdir"/*.o "${libs[@]}"
echo "built $out (torch $torch_dir, cxx11 abi $abi)"
