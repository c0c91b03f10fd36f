#!/usr/bin/env bash
# The project's checks on a GPU, in one call on a lent GPU machine (the `device` tool) that has a
# CUDA PyTorch, CMake, ninja and g++ but none of the project's other dependencies and no network:
#
#   1. build: the -DDIFFEDIT_GPU_CHECK=ON configuration (every library, the CLI, the parity tests
#      of the networks and DiffEdit, bench_models, bench_methods) against the machine's libtorch,
#      with the dependencies from scripts/gpu-check/bundle.sh's .devbuild/gpu-check/deps.tar.xz;
#   2. parity: those tests on the GPU (DIFFEDIT_TEST_DEVICE) in float32 at the fixtures'
#      tolerances, TF32 off, and float16 / bfloat16 against float32 within their stated bounds
#      (tests/parity/test_reduced_precision.cpp);
#   3. quickstart: `diffedit run configs/quickstart.json --device cuda` (float32, TF32 off, one
#      CPU thread as the baseline was computed) against results/baselines/quickstart.json, with the
#      GPU tolerances of scripts/gpu-check/report.py (`diffedit regress`), and with the CPU ones;
#   4. timings, native vs diffusers on the same GPU with the same random weights of Stable
#      Diffusion 1.5's shapes (scripts/gpu-check/sd15.py writes them as a diffusers directory while
#      the build runs): the UNet at batch 2, 64x64 latents, float16 (bench_models BM_UNetSD15 vs
#      UNet2DConditionModel), and one full 512x512 DiffEdit edit, 50 steps, r = 0.8, 10 mask samples
#      (bench_methods DiffEditModelDir vs StableDiffusionDiffEditPipeline). diffusers is the
#      machine's, or v0.31's sources from the bundle (python.tar.xz); without transformers the
#      pipeline runs on prompt embeddings (sd15.py says so in the JSON).
#
# Every stage has its own time budget (cut to what is left of GPU_CHECK_DEADLINE) and a failed or
# skipped stage does not stop the next. Everything goes to $OUT/log.txt; the figures to
# $OUT/gpu-check.json (scripts/gpu-check/report.py), plus parity.json (gtest), the benchmark JSONs,
# diffusers.json and quickstart-summary.json.
#
# On the device (after `bash scripts/gpu-check/bundle.sh` here):
#   run(command="bash scripts/gpu-check.sh", carry=[".devbuild/gpu-check"], timeout_s=540)
# Here, the same stages on the CPU with small shapes (the script's verification):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_BUILD_DIR=/tmp/build-gpucheck GPU_CHECK_LOCK=/tmp/build.lock \
#     GPU_CHECK_JOBS=2 PYTHON=/usr/bin/python3 OUT=/tmp/gpu-check-out bash scripts/gpu-check.sh
#
# Environment: OUT (default /tmp/gpu-check-out), GPU_CHECK_DEVICE (cuda | cpu), GPU_CHECK_DTYPE
# (timings; float16 on cuda, float32 on cpu), GPU_CHECK_DEADLINE (seconds; 470 on cuda),
# GPU_CHECK_WORK (/tmp/gpu-check), GPU_CHECK_BUILD_DIR ($WORK/build), GPU_CHECK_BUNDLE
# (.devbuild/gpu-check), GPU_CHECK_JOBS (nproc), GPU_CHECK_LOCK (a file to flock around the build),
# GPU_CHECK_TORCH_DIR (libtorch's CMake prefix; on cuda asked from $PYTHON), PYTHON (python3).
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ROOT
export OUT=${OUT:-/tmp/gpu-check-out}
export DEV=${GPU_CHECK_DEVICE:-cuda}
export WORK=${GPU_CHECK_WORK:-/tmp/gpu-check}
export BUNDLE=${GPU_CHECK_BUNDLE:-$ROOT/.devbuild/gpu-check}
export BUILD=${GPU_CHECK_BUILD_DIR:-$WORK/build}
export JOBS=${GPU_CHECK_JOBS:-$(nproc)}
export PY=${PYTHON:-python3}
export LOCK=${GPU_CHECK_LOCK:-}
if [ "$DEV" = cpu ]; then
  # Two shared cores here: every stage's budget is ten times the GPU machine's.
  export SMALL=--small DTYPE=${GPU_CHECK_DTYPE:-float32} DEADLINE=${GPU_CHECK_DEADLINE:-5400} SCALE=10 UNET_ITERS=1 EDIT_ITERS=1
else
  export SMALL='' DTYPE=${GPU_CHECK_DTYPE:-float16} DEADLINE=${GPU_CHECK_DEADLINE:-470} SCALE=1 UNET_ITERS=20 EDIT_ITERS=2
fi
T0=$(date +%s)
export T0
export LOG=$OUT/log.txt
export DEPS=$WORK/deps/usr
export LIBS=$DEPS/lib/x86_64-linux-gnu
mkdir -p "$OUT" "$WORK" "$WORK/bin"
rm -f "$WORK/stages.tsv" "$WORK"/note.* "$WORK"/quickstart-*

log() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$LOG"; }
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
export -f log left

# stage NAME BUDGET MIN FUNCTION: runs FUNCTION under `timeout` for BUDGET seconds (times SCALE), cut to what is
# left before the deadline (less 20 s for the report); skipped when that is under MIN. Records the
# status in $WORK/stages.tsv; a note a stage writes to $WORK/note.NAME goes with it.
stage() {
  local name=$1 budget=$(($2 * SCALE)) min=$3 fn=$4
  local avail=$(($(left) - 20))
  ((budget > avail)) && budget=$avail
  if ((budget < min)); then
    log "== $name: skipped ($(left) s left)"
    printf '%s\tskipped\t0\tout of time\n' "$name" >> "$WORK/stages.tsv"
    return 1
  fi
  log "== $name (budget ${budget} s)"
  local s rc status
  s=$(date +%s)
  timeout --kill-after=10 "$budget" bash -c "$fn" >> "$LOG" 2>&1
  rc=$?
  status=ok
  if ((rc == 124 || rc == 137)); then status=timeout; elif ((rc != 0)); then status="failed (rc $rc)"; fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - s))" "$(cat "$WORK/note.$name" 2> /dev/null | tr '\t\n' '  ')" >> "$WORK/stages.tsv"
  log "== $name: $status in $(($(date +%s) - s)) s"
  return $rc
}

# Our binaries resolve the bundled libraries (ICU's data, libaec behind libsz) through this.
run_native() { LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }
# Python with diffusers: the machine's, else v0.31's sources from the bundle ($WORK/python).
run_python() { PYTHONPATH=$(cat "$WORK/pythonpath" 2> /dev/null)${PYTHONPATH:+:$PYTHONPATH} "$PY" "$@"; }
export -f run_native run_python

s_env() {
  set -o pipefail
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
    g++ --version | head -1
    cmake --version | head -1
    echo "cpus: $(nproc)"
  } | tee "$WORK/env.txt"
  "$PY" - "$WORK/env.json" << 'PY'
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:
        return f"error: {e}"
env = {"mode": os.environ["DEV"], "timing_dtype": os.environ["DTYPE"], "python": platform.python_version(), "cpus": os.cpu_count(),
       "gpu": sh("nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1"),
       "gcc": sh("g++ --version | head -1"), "cmake": sh("cmake --version | head -1")}
try:
    import torch
    env.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
               gpu_name=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
               torch_cmake=torch.utils.cmake_prefix_path)
except Exception as e:
    env["torch"] = f"not importable: {e}"
for m in ("diffusers", "transformers", "safetensors", "numpy", "PIL", "huggingface_hub", "accelerate"):
    try:
        mod = __import__(m)
        env.setdefault("python_packages", {})[m] = getattr(mod, "__version__", "?")
    except Exception as e:
        env.setdefault("python_packages", {})[m] = f"missing ({type(e).__name__})"
json.dump(env, open(sys.argv[1], "w"), indent=2)
print(json.dumps(env))
PY
}

s_unpack() {
  set -o pipefail
  set -e
  rm -rf "$WORK/deps" "$WORK/fixtures" "$WORK/python"
  mkdir -p "$WORK/deps"
  tar -xJf "$BUNDLE/deps.tar.xz" -C "$WORK/deps" &
  tar -xJf "$BUNDLE/fixtures.tar.xz" -C "$WORK" &
  [ -f "$BUNDLE/python.tar.xz" ] && tar -xJf "$BUNDLE/python.tar.xz" -C "$WORK" &
  wait
  ls "$WORK/fixtures"/* "$LIBS/libicuuc.so" > /dev/null
  # diffusers: the machine's when it imports, else the bundled sources.
  : > "$WORK/pythonpath"
  if ! "$PY" -c 'import diffusers' 2> /dev/null && [ -d "$WORK/python" ]; then
    echo "$WORK/python" > "$WORK/pythonpath"
    echo "diffusers from the bundle ($WORK/python)" | tee "$WORK/note.unpack"
  fi
  run_python -c 'import diffusers; print("diffusers", diffusers.__version__, diffusers.__file__)' || echo "diffusers does not import"
}

s_weights() {
  set -o pipefail
  rm -rf "$WORK/sd"
  run_python scripts/gpu-check/sd15.py make "$WORK/sd" --device "$DEV" --dtype "$DTYPE" $SMALL
}

s_build() {
  set -o pipefail
  torch_args=()
  torch_dir=${GPU_CHECK_TORCH_DIR:-}
  [ "$DEV" != cpu ] && [ -z "$torch_dir" ] && torch_dir=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  [ -n "$torch_dir" ] && torch_args=(-DDIFFEDIT_TORCH_DIR="$torch_dir")
  werror=ON
  [ "$DEV" != cpu ] && werror=OFF # another compiler and libtorch there: warnings are not errors
  generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    -DDIFFEDIT_GPU_CHECK=ON -DDIFFEDIT_WERROR=$werror "${torch_args[@]}" -DCMAKE_PREFIX_PATH="$DEPS" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$LIBS" > "$WORK/configure.log" 2>&1 || {
    tail -40 "$WORK/configure.log"
    return 1
  }
  grep -E "diffedit:|Found" "$WORK/configure.log"
  lock=()
  [ -n "$LOCK" ] && lock=(flock "$LOCK")
  # Keep going past a failed object: each binary that links is used. The parity tests and the UNet
  # benchmark first (most of the libraries), so that they exist if the budget ends in the rest (the
  # eval layer and the CLI).
  "${lock[@]}" cmake --build "$BUILD" -j "$JOBS" --target parity_tests bench_models -- -k 0 > "$WORK/build.log" 2>&1
  rc=$?
  "${lock[@]}" cmake --build "$BUILD" -j "$JOBS" --target bench_methods diffedit -- -k 0 >> "$WORK/build.log" 2>&1 || rc=1
  grep -E "^FAILED|: error: " "$WORK/build.log" | head -40
  tail -3 "$WORK/build.log"
  for b in src/diffedit tests/parity_tests tests/bench/bench_models tests/bench/bench_methods; do
    [ -x "$BUILD/$b" ] && ln -sf "$BUILD/$b" "$WORK/bin/"
  done
  ls "$WORK/bin" | tr '\n' ' ' | tee "$WORK/note.build"
  # What the binaries load from the bundle, and anything they cannot find.
  run_native ldd "$WORK/bin/diffedit" 2> /dev/null | grep -E "$WORK|not found" | head -20
  return $rc
}

s_parity() {
  set -o pipefail
  # float32 at the fixtures' tolerances and float16 / bfloat16 against float32, on the device. The
  # SD2 variants of the UNet and text tower are left out: their fixtures (6.3 MB) are not carried.
  echo "SD2 UNet and text tower variants not run (fixtures not carried)" > "$WORK/note.parity"
  DIFFEDIT_TEST_DEVICE=$DEV DIFFEDIT_FIXTURES=$WORK/fixtures run_native "$WORK/bin/parity_tests" --gtest_filter='-*.Sd2*' \
    --gtest_output="json:$OUT/parity.json" 2>&1 | grep -vE '^\[ +(RUN|OK) +\]' | tail -60
}

s_quickstart() {
  set -o pipefail
  rm -rf "$WORK/qs"
  local s
  s=$(date +%s)
  NVIDIA_TF32_OVERRIDE=0 run_native "$WORK/bin/diffedit" -q --threads 1 run configs/quickstart.json --out "$WORK/qs" --device "$DEV" --no-cache || return 1
  echo "quickstart run: $(($(date +%s) - s)) s on $DEV" | tee "$WORK/note.quickstart"
  cp "$WORK/qs/summary.json" "$OUT/quickstart-summary.json"
  cp results/baselines/quickstart.json "$WORK/quickstart-baseline.json"
  # The run's metrics in the baseline's form, for report.py's deviations.
  run_native "$WORK/bin/diffedit" regress "$WORK/qs" --baseline "$WORK/quickstart-metrics.json" --update --abs-tol 0 --rel-tol 0
  "$PY" scripts/gpu-check/report.py loosen results/baselines/quickstart.json "$WORK/quickstart-gpu-baseline.json"
  run_native "$WORK/bin/diffedit" regress "$WORK/qs" --baseline "$WORK/quickstart-gpu-baseline.json" | tail -25
  rc=$?
  [ $rc = 0 ] && echo passed > "$WORK/quickstart-regress.status" || echo "failed (rc $rc)" > "$WORK/quickstart-regress.status"
  run_native "$WORK/bin/diffedit" regress "$WORK/qs" --baseline results/baselines/quickstart.json | tail -1
  [ $? = 0 ] && echo passed > "$WORK/quickstart-regress-strict.status" || echo failed > "$WORK/quickstart-regress-strict.status"
  return $rc
}

s_native() {
  set -o pipefail
  export DIFFEDIT_BENCH_DEVICE=$DEV DIFFEDIT_BENCH_DTYPE=$DTYPE
  local model=$WORK/sd edit_model=$WORK/sd
  if ! grep -q '"status": "ok"' "$WORK/sd/make.json" 2> /dev/null; then
    # Without the diffusers directory: random weights of the same shapes, built natively (on the
    # CPU machine, whose SD 1.5-sized edit would take an hour, the toy model instead).
    model=
    edit_model=random-sd15
    [ -n "$SMALL" ] && edit_model=models/toy-sd
    echo "no generated weights: native timings on random weights ($edit_model), no diffusers comparison" | tee "$WORK/note.native"
  fi
  [ -n "$SMALL" ] && export DIFFEDIT_BENCH_LATENT=16
  DIFFEDIT_BENCH_MODEL=$model DIFFEDIT_BENCH_ITERATIONS=$UNET_ITERS run_native "$WORK/bin/bench_models" --benchmark_filter=UNetSD15 \
    --benchmark_out="$OUT/bench_unet.json" --benchmark_out_format=json
  rc=$?
  DIFFEDIT_BENCH_MODEL=$edit_model DIFFEDIT_BENCH_ITERATIONS=$EDIT_ITERS run_native "$WORK/bin/bench_methods" \
    --benchmark_filter=DiffEditModelDir --benchmark_out="$OUT/bench_diffedit.json" --benchmark_out_format=json || rc=1
  return $rc
}

s_diffusers() {
  set -o pipefail
  grep -q '"status": "ok"' "$WORK/sd/make.json" 2> /dev/null || {
    echo "no generated weights" | tee "$WORK/note.diffusers"
    return 1
  }
  run_python scripts/gpu-check/sd15.py time "$WORK/sd" --out "$OUT/diffusers.json" --device "$DEV" --dtype "$DTYPE" \
    --unet-iterations "$UNET_ITERS" --edit-iterations "$EDIT_ITERS"
}
export -f s_env s_unpack s_weights s_build s_parity s_quickstart s_native s_diffusers

log "gpu-check on $DEV: deadline ${DEADLINE} s, work $WORK, build $BUILD, out $OUT"
stage env 30 5 s_env
stage unpack 60 10 s_unpack
# The weights are written while the build runs (GPU and disk, against the build's CPUs).
(stage weights 240 30 s_weights) &
weights_pid=$!
stage build 300 60 s_build
stage parity 60 15 s_parity
stage quickstart 120 30 s_quickstart
wait $weights_pid
stage native 90 20 s_native
stage diffusers 90 25 s_diffusers
log "== report"
timeout 30 "$PY" scripts/gpu-check/report.py summary "$WORK" "$OUT/gpu-check.json" >> "$LOG" 2>&1 || log "report failed"
cp "$WORK/stages.tsv" "$WORK/env.txt" "$OUT/" 2> /dev/null
tail -c 200000 "$WORK/build.log" > "$OUT/build-log-tail.txt" 2> /dev/null
log "done in $(($(date +%s) - T0)) s: $OUT/gpu-check.json"
