#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job on the embedded toy world: the experiment
# configs/quickstart.json (DiffEdit over r x threshold, its encode-decode ablation and SDEdit over
# r, on 8 toy-world class edits, with LPIPS, CLIPScore, FID/KID/CSFID, mask IoU, edit success and
# unedited-region PSNR/SSIM; about 40 s on 2 cores), its regression check against
# results/baselines/quickstart.json, its report (tables, plots, the paper's claims, an HTML page) and
# a PNG grid of world samples, edits and generations.
# Outputs go to results/runs/quickstart/ (re-running resumes; nothing finished is redone).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build}
OUT=${DIFFEDIT_QUICKSTART_OUT:-$ROOT/results/runs/quickstart}
"$ROOT/scripts/setup.sh" diffedit  # the main job needs only the CLI; scripts/test.sh builds the rest
mkdir -p "$OUT"
cd "$ROOT"
"$BUILD_DIR/src/diffedit" --version
# One thread, as the baseline was computed: float sums depend on the thread count (docs/building.md: Determinism).
"$BUILD_DIR/src/diffedit" --threads 1 run configs/quickstart.json --out "$OUT"
"$BUILD_DIR/src/diffedit" regress "$OUT" --baseline results/baselines/quickstart.json
"$BUILD_DIR/src/diffedit" report "$OUT"  # tables, trade-off plots, the paper's claims, an HTML page
"$BUILD_DIR/src/diffedit" toy-samples --model models/toy-sd --count 8 --columns 2 --out "$OUT/toy-samples.png"
echo "results: $OUT/summary.json, $OUT/records/, $OUT/report/index.html, $OUT/toy-samples.png"
