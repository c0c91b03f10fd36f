#!/bin/bash
# One call on a lent GPU machine (the `device` tool): build the toy-sd trainer against the
# machine's PyTorch, time 150 steps, then train for as many steps as fit before DEADLINE seconds
# and bring back (under $OUT, as float16 safetensors) the EMA UNet of up to three intermediate
# checkpoints and of the end. The first 150 steps' losses (cal-progress.json) compare with a CPU
# run of the same config for parity.
#
# The machine has no ICU/nlohmann_json: bundle Debian's here first, into an ignored folder (the
# machine has CMake and ninja):
#   mkdir -p /tmp/d/include /tmp/d/lib /tmp/d/share/cmake && cp -r /usr/include/unicode /usr/include/nlohmann /tmp/d/include \
#     && cp -P /usr/lib/x86_64-linux-gnu/libicu{uc,i18n,data}.so* /tmp/d/lib \
#     && cp -r /usr/share/cmake/nlohmann_json /tmp/d/share/cmake \
#     && mkdir -p .devbuild && tar -cJf .devbuild/deps.tar.xz -C /tmp/d include lib share
# then: run(command="DEADLINE=500 bash scripts/cuda-trainer/device-run.sh", carry=[".devbuild"]).
# Known issue (models/README.md): on CUDA the trainer has crashed right after its second checkpoint.
set -u -o pipefail
T0=$(date +%s); DEADLINE=${DEADLINE:-530}; BATCH=${BATCH:-64}
el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log.txt
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda, "abi", torch._C._GLIBCXX_USE_CXX11_ABI)'
  g++ --version | head -1; nproc; } 2>&1 | tee -a $LOG
mkdir -p /tmp/deps && tar -xJf .devbuild/deps.tar.xz -C /tmp/deps
DEPS=/tmp/deps JOBS=16 bash scripts/cuda-trainer/build.sh /tmp/bc/tts 2>&1 | tee -a $LOG || { echo "BUILD FAILED at $(el)s" | tee -a $LOG; exit 1; }
echo "built at $(el)s" | tee -a $LOG
B=/tmp/bc/tts
ldd $B | grep "not found" | tee -a $LOG && { echo "rpath insufficient: LD_LIBRARY_PATH" | tee -a $LOG; export LD_LIBRARY_PATH=/tmp/deps/lib; }
ts=$(date +%s.%N)
$B configs/train/toy-sd.json --out /tmp/cal --device cuda steps=150 checkpoint_every=1000 batch_size=$BATCH 2>&1 | tr '\r' '\n' | tail -2 | tee -a $LOG
te=$(date +%s.%N)
cp /tmp/cal/checkpoint/progress.json $OUT/cal-progress.json
per=$(python3 -c "print(max(0.005, (${te}-${ts})/150))")
left=$(( DEADLINE - $(el) - 30 ))
N=$(python3 -c "print(max(500, min(100000, int(${left}/${per}*0.9))))")
echo "sec/step(batch $BATCH) ~ $per; $left s left -> steps=$N at $(el)s" | tee -a $LOG
EVERY=$(( N / 4 ))
$B configs/train/toy-sd.json --out /tmp/run --device cuda steps=$N checkpoint_every=$EVERY batch_size=$BATCH > /tmp/train.log 2>&1 &
P=$!
last=-1; k=0
export_ema() { python3 - "$1" "$2" <<'PY'
import sys, torch
from safetensors.torch import load_file, save_file
sd = load_file(sys.argv[1]); p = 'ema.unet.'
save_file({k[len(p):]: v.half().contiguous() for k, v in sd.items() if k.startswith(p)}, sys.argv[2], metadata={'format': 'pt'})
PY
}
while kill -0 $P 2>/dev/null; do
  sleep 3
  s=$(python3 -c "import json;print(json.load(open('/tmp/run/checkpoint/progress.json'))['step'])" 2>/dev/null || echo -1)
  if [[ $s != -1 && $s != $last && $s -lt $N && $k -lt 3 ]]; then
    mkdir -p /tmp/snap && rm -rf /tmp/snap/c && cp -r /tmp/run/checkpoint /tmp/snap/c 2>/dev/null && \
      export_ema /tmp/snap/c/model.safetensors $OUT/ema-step$s.safetensors && { last=$s; k=$((k+1)); echo "snapshot step $s at $(el)s" | tee -a $LOG; }
  fi
done
wait $P; rc=$?
tr '\r' '\n' < /tmp/train.log | grep -v '^\s*$' | awk 'NR%50==0' | tail -40 >> $LOG
tr '\r' '\n' < /tmp/train.log | tail -3 | tee -a $LOG
echo "train rc=$rc at $(el)s" | tee -a $LOG
if [[ -f /tmp/run/unet/diffusion_pytorch_model.safetensors ]]; then
  python3 - <<'PY'
import os, torch
from safetensors.torch import load_file, save_file
sd = load_file('/tmp/run/unet/diffusion_pytorch_model.safetensors')
save_file({k: v.half().contiguous() for k, v in sd.items()}, os.environ['OUT'] + '/unet-final.safetensors', metadata={'format': 'pt'})
PY
  cp /tmp/run/training.json $OUT/training.json
fi
echo "done at $(el)s" | tee -a $LOG
