#!/usr/bin/env bash
# Prints configs/README.md's cost table from `diffedit run --dry-run` of every shipped experiment
# config: settings per input and the predicted UNet evaluations per input, with the runner's
# sharing and if every setting ran alone (a test checks the README's rows against the dry runs).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIFFEDIT=${DIFFEDIT:-$ROOT/build/src/diffedit}
cd "$ROOT"
echo "| config | settings per input | done | alone | ratio |"
echo "|---|---|---|---|---|"
for f in configs/quickstart.json configs/paper/[!_]*.json configs/piebench/[!_]*.json configs/toy/[!_]*.json; do
  name=${f#configs/}
  "$DIFFEDIT" run "$f" --out /nonexistent --dry-run | python3 -c '
import json, sys
p = json.load(sys.stdin)
e = p["denoiser_evaluations"]
print("| %s | %d | %d | %d | %.3f |" % (sys.argv[1][:-5], len(p["settings"]), e["per_input"]["done"], e["per_input"]["if_independent"], e["sharing_ratio"]))' "$name"
done
