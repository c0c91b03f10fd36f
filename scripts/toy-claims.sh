#!/usr/bin/env bash
# Prints results/baselines/toy-claims.md: the claim lines of the reports of configs/toy runs.
# Usage: scripts/toy-claims.sh RUNS_DIR   (RUNS_DIR/<config name>/report/claims.md, from
#   diffedit run configs/toy/<name>.json --out RUNS_DIR/<name> && diffedit report RUNS_DIR/<name>)
set -euo pipefail
runs=$1
echo "# The paper's claims on the toy world"
echo
echo "Claim lines of \`diffedit report\` for the \`configs/toy/*\` runs on the shipped toy models"
echo "(\`scripts/toy-claims.sh\`). Axes: edit success (higher is better) vs unedited PSNR in dB (higher"
echo "is better); a curve dominates another when every point of the other is matched or beaten on both"
echo "axes by one of its points. Points: setting (edit success ± standard error, unedited PSNR)."
for d in "$runs"/*/; do
  name=$(basename "$d")
  [ -f "$d/report/claims.md" ] || continue
  echo
  echo "## configs/toy/$name.json ($(grep -o '"git_revision": "[^"]*"' "$d/summary.json" | cut -d'"' -f4))"
  echo
  grep '^- \*\*' "$d/report/claims.md"
done
