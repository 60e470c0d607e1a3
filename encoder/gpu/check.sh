#!/usr/bin/env bash
# Runs the carried CUDA gpu_check binary on the GPU machine (see ../../../shared/cuda/README.md).
# Usage, from the repository root on that machine:  bash encoder/gpu/check.sh [BINARY] [extra args]
# Writes the JSON reports to stdout and to $OUT (gpu_check.json, gpu_check_bf16.json,
# torch_gpu_f32.json, torch_gpu_bf16.json, torch_cpu_baseline.json) when $OUT is set.
# Build the binary first, on a machine with the CUDA toolkit:
#   cargo build --release --features cuda --example gpu_check -p tartan-encoder
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
DIR=${OUT:-$(mktemp -d)}
HERE=$(dirname "$0")
# tartan on the GPU in f32 and in bf16 (each against the f32 CPU on the same seeded weights:
# the bf16 case's max difference is bf16's error), then PyTorch on the same GPU with the same
# shapes and batch sizes (32 x 180 documents, 32 x 32 queries) in f32 and bf16, for the
# tokens/s ratios. PyTorch on the CPU cores last. Each step is skipped with a note if it fails,
# so one failure does not hide the others.
timeout 300 "$BIN" --device cuda "$@" | tee "$DIR/gpu_check.json" || echo "gpu_check f32 failed"
timeout 300 "$BIN" --device cuda --precision bf16 "$@" | tee "$DIR/gpu_check_bf16.json" \
  || echo "gpu_check bf16 failed"
for DT in f32 bf16; do
  timeout 180 python3 "$HERE/../bench/torch_throughput.py" --random --reps 3 --device cuda \
    --dtype "$DT" | tee "$DIR/torch_gpu_$DT.json" || echo "torch GPU $DT baseline unavailable"
done
timeout 240 python3 "$HERE/../bench/torch_throughput.py" --random --reps 3 \
  | tee "$DIR/torch_cpu_baseline.json" || echo "torch CPU baseline unavailable"
