#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job on the embedded toy world: the toy models'
# quality measures with a small DiffEdit vs SDEdit sweep (diffedit toy-eval, about 2-3 minutes on
# 2 cores) and a PNG grid of inputs, ground truth, DiffEdit and SDEdit edits and generations.
# Outputs go to results/runs/quickstart/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build}
OUT=${DIFFEDIT_QUICKSTART_OUT:-$ROOT/results/runs/quickstart}
"$ROOT/scripts/setup.sh"
mkdir -p "$OUT"
cd "$ROOT"
"$BUILD_DIR/src/diffedit" --version
"$BUILD_DIR/src/diffedit" toy-eval --models "$ROOT/models" --count 200 --prompts 64 --edits 40 \
    --sweep-edits 16 --out "$OUT/toy-eval.json"
"$BUILD_DIR/src/diffedit" toy-samples --model "$ROOT/models/toy-sd" --count 8 --columns 2 --out "$OUT/toy-samples.png"
echo "results: $OUT/toy-eval.json, $OUT/toy-samples.png"
