#!/usr/bin/env bash
# Side-by-side benchmarks against PyTorch (optional dependency); one JSON line per run.
# Usage: ci/benchmarks.sh [cpu|cuda] [extra args]; results go to benchmarks/results-<device>.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cpu}; shift || true
out=${OUT:-benchmarks}
for b in mlp cnn rnn char-transformer; do
  python -m benchmarks.run "$b" --device "$device" "$@" | tee -a "$out/results-$device.jsonl"
done
