#!/usr/bin/env bash
# Runs the carried CUDA gpu_check binary on the GPU machine (see ../../../shared/cuda/README.md).
# Usage, from the repository root on that machine:  bash encoder/gpu/check.sh [BINARY] [extra args]
# Writes the JSON report to stdout and to $OUT/gpu_check.json when $OUT is set.
set -euo pipefail
BIN=${1:-gpu-bin/gpu_check}; shift || true
[ -x "$BIN" ] || chmod +x "$BIN" 2>/dev/null || true
# The driver provides libcuda.so.1; cuBLAS / cudart / cuRAND come from the nvidia pip packages
# beside the machine's PyTorch.
NV=$(python3 -c "import nvidia, os; print(list(nvidia.__path__)[0])" 2>/dev/null || true)
if [ -n "$NV" ]; then
  export LD_LIBRARY_PATH=$(ls -d "$NV"/*/lib 2>/dev/null | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "missing libraries:"; ldd "$BIN" | grep 'not found' || echo "  none"
nproc
OUTFILE=${OUT:-/tmp}/gpu_check.json
timeout 420 "$BIN" --device cuda "$@" | tee "$OUTFILE"
# PyTorch on the same CPU cores, same shapes, for the throughput ratio (skipped without torch).
HERE=$(dirname "$0")
timeout 240 python3 "$HERE/../bench/torch_throughput.py" --random --reps 3 \
  | tee "${OUT:-/tmp}/torch_cpu_baseline.json" || echo "torch CPU baseline unavailable"
