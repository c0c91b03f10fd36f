#!/usr/bin/env bash
# Short toy-sd runs on candidate toy worlds, compared on the leading indicators of the toy-eval
# (text-to-image shape agreement, shape retention at sigma 0.7): the pilot that chose the `basic`
# preset (datasets/toyworld/README.md, "Choosing the basic preset"). Each candidate trains
# configs/train/toy-sd.json for STEPS steps on its world, conditioned on the shipped toy-clip's
# frozen text tower, and is judged by the shipped toy-classifier (trained on the full world, so it
# also knows the shapes a candidate leaves out). Resumable: a finished run or evaluation is kept.
#
#   scripts/world-pilots.sh OUT [NAME ...]     names: basic single six (default: all three)
#   STEPS=1200 (default)  DIFFEDIT=build/src/diffedit
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: scripts/world-pilots.sh OUT [NAME ...]}
shift
STEPS=${STEPS:-1200}
DIFFEDIT=${DIFFEDIT:-$ROOT/build/src/diffedit}
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(basic single six)

world_of() {
  case "$1" in
    basic) echo 'basic' ;;
    single) echo '{"preset":"basic","max_objects":1}' ;;
    six) echo '{"preset":"basic","shapes":["circle","triangle","cross","star","ring","heart"]}' ;;
    full) echo 'full' ;;
    *) echo "unknown candidate $1" >&2; exit 2 ;;
  esac
}

for name in "${names[@]}"; do
  world=$(world_of "$name")
  dir=$OUT/$name
  mkdir -p "$dir/models"
  if [ ! -f "$dir/models/toy-sd/model_index.json" ]; then
    "$DIFFEDIT" train "$ROOT/configs/train/toy-sd.json" "world=$world" "steps=$STEPS" --out "$dir/models/toy-sd" --resume
  fi
  ln -sfn "$ROOT/models/toy-classifier" "$dir/models/toy-classifier"
  if [ ! -f "$dir/toy-eval.json" ]; then
    "$DIFFEDIT" toy-eval "$ROOT/configs/toy/toy-eval.json" dataset.limit=64 'methods=[{"method":"diffedit","label":"DiffEdit","grid":{"strength":[0.8]},"parameters":{"threshold":0.5}}]' \
      --models "$dir/models" --world "$world" --count 256 --prompts 256 --strength 0.8 \
      --retention-items 128 --retention-sigmas 0.5 0.7 1 --out "$dir/toy-eval.json"
  fi
done
