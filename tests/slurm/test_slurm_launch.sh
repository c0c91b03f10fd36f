#!/usr/bin/env bash
# `diffedit launch --slurm` for real: starts a single-node Slurm (scripts/slurm-local.sh), launches
# the quickstart as 2 shards + a dependent merge job, waits, and checks the merged summary against
# a plain run's numbers (the committed baseline, with its tolerances) and its evaluation count.
# Usage: test_slurm_launch.sh DIFFEDIT_EXE   (run from the source tree's root)
set -euo pipefail
EXE=$1
bash scripts/slurm-local.sh start
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$EXE" launch configs/quickstart.json --slurm --shards 2 --out "$OUT/run" --wait --no-cache
test -f "$OUT/run/shards/0/summary.json" && test -f "$OUT/run/shards/1/summary.json"
grep -q '"complete": true' "$OUT/run/summary.json"
# A plain run of the quickstart does 4320 denoiser evaluations (bench_runner reports it); the merge must account the same.
grep -q '"denoiser_evaluations": 4320,' "$OUT/run/summary.json"
"$EXE" regress "$OUT/run" --baseline results/baselines/quickstart.json
echo "slurm launch: merged summary matches the plain run"
