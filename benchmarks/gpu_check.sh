#!/usr/bin/env bash
# Device check (issue 14): on one CUDA GPU, in under 5 minutes,
#   1. generates 1,024 radiograph-like 16-bit PNGs and prepares the image cache (CPU);
#   2. trains MoCo v2 and BYOL with gaze positives at 224 px from the cache, AMP (bf16) on,
#      channels_last and pinned memory on (their CUDA defaults), 40 steps each;
#   3. starts a 1-GPU DDP run under torchrun (NCCL process group, DDP-wrapped model);
# and prints images/s, peak GPU memory and the loader's wait per step for each run.
# Without a CUDA GPU it says so and exits 0. CPU tests never need it.
#
#   benchmarks/gpu_check.sh [WORKDIR]        (default: a fresh folder under /tmp)
#   PYTHON=.venv/bin/python benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: skipped (no CUDA GPU visible to torch)"
    exit 0
fi

WORK=${1:-$(mktemp -d /tmp/mcgip_gpu_check.XXXXXX)}
mkdir -p "$WORK"
echo "gpu_check: workdir $WORK"
start=$(date +%s)
"$PY" benchmarks/gpu_check.py data "$WORK"
"$PY" benchmarks/gpu_check.py train "$WORK"
"$PY" -m torch.distributed.run --standalone --nproc-per-node 1 benchmarks/gpu_check.py ddp "$WORK"
echo "gpu_check: done in $(( $(date +%s) - start )) s"
