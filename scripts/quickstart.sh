#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job. Until the toy world lands this shows the CLI
# and inspects the shipped example checkpoint file.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${DIFFEDIT_BUILD_DIR:-$ROOT/build}
"$ROOT/scripts/setup.sh"
"$BUILD_DIR/src/diffedit" --version
"$BUILD_DIR/src/diffedit" --help
"$BUILD_DIR/src/diffedit" inspect --stats "$ROOT/tests/data/example.safetensors"
