#!/usr/bin/env bash
# Encoder CPU throughput, tartan against PyTorch (transformers) on the same inputs, machine
# and thread count, measured back to back and interleaved ROUNDS times; prints each round's
# figures and the median ratio tartan / PyTorch per model.
#
# Usage, from the repository root:
#   PYTHON=$HOME/venv-torch/bin/python bash encoder/bench/compare_torch.sh [ROUNDS] [THREADS]
# Models: the MiniLM ColBERT checkpoint in ../shared/models (skipped when absent; a random
# MiniLM-shaped model stands in) and a random BERT-base-shaped model. Extra arguments for the
# tartan side go in $TARTAN_ARGS (e.g. "--doc-batches 4 --queries 256 --reps 3").
# PyTorch runs with OMP_WAIT_POLICY=$TORCH_OMP_WAIT_POLICY (default PASSIVE): on a machine
# shared with other work, OpenMP's default spin-waiting cost PyTorch up to 4x in queries/s
# here; set it to ACTIVE for PyTorch's default on an idle machine.
set -euo pipefail
ROUNDS=${1:-3}
THREADS=${2:-$(nproc)}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CKPT="$ROOT/../shared/models/minilm-colbert-pylate"
if [ -f "$CKPT/model.safetensors" ]; then FIRST="checkpoint=$CKPT"; else FIRST=minilm; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --example throughput -p tartan-encoder >&2)
BIN="$TARGET/release/examples/throughput"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
echo "threads $THREADS, PyTorch OMP_WAIT_POLICY=${TORCH_OMP_WAIT_POLICY:-PASSIVE}," \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086
  "$BIN" --model "$FIRST" --model bert-base --workload "$WORK/workload.json" ${TARTAN_ARGS:-} \
    > "$WORK/tartan.$r.json"
  OMP_WAIT_POLICY=${TORCH_OMP_WAIT_POLICY:-PASSIVE} \
    "$PYTHON" "$HERE/torch_throughput.py" "$WORK/workload.json" --threads "$THREADS" \
    > "$WORK/torch.$r.json"
  echo "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
"$PYTHON" - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
runs = [(json.load(open(f"{work}/tartan.{r}.json")), json.load(open(f"{work}/torch.{r}.json")))
        for r in range(1, rounds + 1)]
print(f"tartan: {runs[0][0]['impl']}, {runs[0][0]['threads']} threads")
print(f"torch:  {runs[0][1]['impl']}, {runs[0][1]['threads']} threads")
print("| model | metric | tartan (median) | PyTorch (median) | ratio tartan/PyTorch (median of rounds) | per-round ratios |")
print("|---|---|---|---|---|---|")
summary = []
for i, m in enumerate(runs[0][0]["models"]):
    for key, label in [("tokens_per_s", "documents tokens/s"), ("queries_per_s", "queries/s")]:
        ours = [t["models"][i][key] for t, _ in runs]
        theirs = [p["models"][i][key] for _, p in runs]
        ratios = [a / b for a, b in zip(ours, theirs)]
        print(f"| {m['model']} | {label} | {statistics.median(ours):.0f} | "
              f"{statistics.median(theirs):.0f} | {statistics.median(ratios):.2f} | "
              + ", ".join(f"{x:.2f}" for x in ratios) + " |")
        summary.append({"model": m["model"], "metric": key, "tartan": ours, "torch": theirs,
                        "ratio_median": statistics.median(ratios)})
print(json.dumps({"rounds": rounds, "summary": summary}))
PY
