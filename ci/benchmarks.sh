#!/usr/bin/env bash
# Side-by-side benchmarks against PyTorch (optional dependency), every kind, one JSON line per run.
# Usage: ci/benchmarks.sh [cpu|cuda] [extra args for benchmarks.run]
# Results: benchmarks/results/<date>_<device>_<machine>_<commit>.jsonl (every kind appends to the
# same file; OUT=path names another). The development and CI machines force OpenBLAS onto older
# kernels (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE); the benchmark's processes run without them.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cpu}; shift || true
py=${PYTHON:-python}
out=()
if [ -n "${OUT:-}" ]; then out=(--out "$OUT"); fi
for b in mlp cnn rnn seed-cnn char-transformer vae gan; do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    "$py" -m benchmarks.run "$b" --device "$device" ${out[@]+"${out[@]}"} "$@"
done
