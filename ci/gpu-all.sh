#!/usr/bin/env bash
# Every GPU check in ONE call of the device tool, in at most 6 minutes on an H100/H200:
#   1. xpnet info;  2. the gpu-marked tests (the cuda cases) with a junit report;
#   3. mnist-cnn and mnist-lstm, 1 epoch each on cuda, timed after a short warm-up run;
#   4. short benchmarks against PyTorch + cuDNN (one repeat, a few seconds each) with each
#      configuration's peak GPU memory (CuPy's pool high-water mark beside torch's).
# Everything lands in $OUT (at most 8 files): info.txt, suite.log, junit.xml, recipes.log,
# bench.jsonl, summary.txt, cupy-cache.tar.gz.
#
# Here, before the call: ../shared/gpu/prepare-wheels.sh (wheels the machine lacks, in .whl/).
# The call: carry [".whl"] (and ".cupy-cache" once a previous run's cupy-cache.tar.gz has been
# unpacked here: `tar -xzf cupy-cache.tar.gz`, so the kernels come compiled), command
# `bash ci/gpu-all.sh`. MNIST comes from data/mnist, which is in the repository.
#
# Dry run on the CPU, end to end in well under 2 minutes (device cpu, tiny sizes, no wheels):
#   XPNET_GPU_DRY_RUN=1 OUT=/tmp/dry bash ci/gpu-all.sh        (tests/test_gpu_script.py runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/xpnet-gpu}
mkdir -p "$out"
dry=${XPNET_GPU_DRY_RUN:-0}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR="$PWD/.cupy-cache"
if [ "$dry" = 1 ]; then
  device=cpu
  limit="--limit 128"; bench_size="--steps 2 --warmup 1"; seq="--seq-len 8"
  mlp_batch="8"; cnn_batch="8"; rnn_batch="8"
  budget_suite=100; budget_run=60
  markers="gpu"
else
  device=cuda
  limit=""; bench_size=""; seq="--seq-len 28"
  mlp_batch="128"; cnn_batch="64 256"; rnn_batch="64 256"
  budget_suite=200; budget_run=90
  markers="gpu"
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:.
  else
    export PYTHONPATH=.
  fi
fi
runs=$(mktemp -d)            # recipe outputs stay on the machine; their final lines come back
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started ))s] $*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

# 1. what the machine is
"$py" -m xpnet info > "$out/info.txt" 2>&1
stamp "info: $(grep -E '^(cupy|torch|cuda:0)' "$out/info.txt" | tr '\n' ';')"

# 2. the cuda cases of the suite: full log and junit back; failing names printed (-rfE)
timeout "$budget_suite" "$py" -m pytest -q -p no:cacheprovider -m "$markers" -rfEs \
  --junitxml="$out/junit.xml" > "$out/suite.log" 2>&1
stamp "suite (-m $markers): $(tail -1 "$out/suite.log")"
grep -E "^(FAILED|ERROR)" "$out/suite.log" | head -20 >> "$out/summary.txt"
grep -c "running it unfused" "$out/suite.log" | sed 's/^/fusion fallback warnings: /' \
  >> "$out/summary.txt"

# 3. the recipes: a short warm-up run (compiles every kernel), then one timed epoch each
: > "$out/recipes.log"
for recipe in mnist-cnn mnist-lstm; do
  timeout "$budget_run" "$py" -m xpnet train "$recipe" --device "$device" --epochs 1 \
    --limit 128 --out "$runs/warm-$recipe" --quiet >> "$out/recipes.log" 2>&1
  timeout "$budget_run" "$py" -m xpnet train "$recipe" --device "$device" --epochs 1 $limit \
    --out "$runs/$recipe" --quiet >> "$out/recipes.log" 2>&1
  stamp "$recipe: $(tail -1 "$out/recipes.log")"
done

# 4. the benchmarks against PyTorch on the same device, one repeat each, peak memory per line
: > "$out/bench.jsonl"
bench() {
  timeout "$budget_run" "$py" -m benchmarks.run "$@" --device "$device" --repeats 1 \
    $bench_size >> "$out/bench.jsonl" 2>&1
}
bench mlp --batch $mlp_batch
bench cnn --batch $cnn_batch
bench rnn --cells lstm $seq --batch $rnn_batch
bench char-transformer
"$py" ci/summarize_bench.py "$out/bench.jsonl" >> "$out/summary.txt"
stamp "benchmarks done"

# the compiled kernels, so that a rerun can carry them in warm
if [ -d .cupy-cache ]; then tar -czf "$out/cupy-cache.tar.gz" .cupy-cache; fi
stamp "total"
cat "$out/summary.txt"
