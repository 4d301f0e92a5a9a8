#!/usr/bin/env bash
# Every GPU check in one call of the device tool (see ../shared/gpu/README.md): the suite with
# CuPy, the three MNIST recipes on cuda, and the benchmarks against PyTorch with cuDNN.
# Here, first: ../shared/gpu/prepare-wheels.sh; mkdir -p .data && cp -r ../shared/data/mnist .data/
# Then: run with carry [".whl", ".data"] and command "bash ci/gpu-all.sh". Results land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
out=${OUT:-/tmp/xpnet-gpu}; mkdir -p "$out"
python3 -m xpnet info | tee "$out/info.txt"
python3 -m pytest -q -p no:cacheprovider -rs 2>&1 | tail -60 > "$out/suite.log"
tail -1 "$out/suite.log"
for recipe in "mnist-cnn --epochs 3" "mnist-seed-cnn --epochs 1" "mnist-lstm --epochs 3"; do
  name=${recipe%% *}
  python3 -m xpnet train $recipe --device cuda --data .data/mnist --out "/tmp/runs/$name" \
    --quiet 2>&1 | tail -5 > "$out/$name.log"
  tail -1 "$out/$name.log"
done
for bench in mlp cnn seed-cnn rnn; do
  python3 -m benchmarks.run "$bench" --device cuda >> "$out/bench-cuda.jsonl" 2>&1
done
grep summary "$out/bench-cuda.jsonl"
