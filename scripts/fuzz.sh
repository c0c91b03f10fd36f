#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]     targets: safetensors config tokenizer image
# Each run starts from the committed seeds (fuzz/corpus/<target>) and grows a working corpus in
# build-fuzz/corpus/<target>; crashing inputs land in build-fuzz/artifacts/<target>/. To keep one
# as a regression test, copy it into fuzz/corpus/<target>/ (ctest -L fuzz replays them all).
# Exit status: 0 when every target ran clean, 1 when any found a crash, leak or violated invariant.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DIFFEDIT_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors config tokenizer image)

command -v clang++ >/dev/null || { echo "error: clang++ not found (apt-get install clang)" >&2; exit 2; }
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDIFFEDIT_FUZZ=ON \
  -DDIFFEDIT_BUILD_TESTS=OFF -DDIFFEDIT_BUILD_BENCHMARKS=OFF -DDIFFEDIT_USE_PCH=OFF >/dev/null
cmake --build "$BUILD" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t" artifacts="$BUILD/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  log="$BUILD/fuzz_$t.log"
  echo "== fuzz_$t: ${SECONDS_PER_TARGET}s"
  # -rss_limit_mb: the image decoder may legitimately allocate for a large (limited) image.
  if "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=4096 -timeout=20 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$ROOT/fuzz/corpus/$t" \
       >"$log" 2>&1; then
    echo "   clean: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions," \
         "$(grep -oE 'cov: [0-9]+' "$log" | tail -1), corpus $(ls "$work" | wc -l) files"
  else
    status=1
    echo "   FOUND a problem (log: $log, inputs: $artifacts):"
    grep -E 'ERROR|invariant|terminate|Assertion|runtime error' "$log" | head -5 | sed 's/^/     /'
  fi
done
exit $status
