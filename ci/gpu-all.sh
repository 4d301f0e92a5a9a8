#!/usr/bin/env bash
# Every GPU check in ONE call of the device tool, within a time budget that always leaves the
# results written (XPNET_GPU_BUDGET seconds in all, default 420: call it with timeout_s 480):
#   0. the wheels: if array-api-compat / array-api-strict cannot be imported, it stops at once
#      with one line saying so (every cuda case would error otherwise);
#   1. xpnet info, then the probe (ci/gpu_probe.py, about 20 s): versions, each fused kernel
#      compiled once with the engine CuPy chose for it, the label check, a one-process NCCL
#      world's all-reduce and broadcast, a 5-step mnist-cnn -- first, so it comes back whatever
#      happens later;
#   2. the gpu-marked tests (the cuda cases), on pytest-xdist workers when it is installed (they
#      share the NVRTC cache), under a suite budget (ci/suite_budget.py skips what is not started
#      in time) inside `timeout -s INT` (a hung test: pytest stops and still writes junit.xml and
#      its failure list);
#   3. mnist-cnn and mnist-lstm, 1 epoch each, timed after a short warm-up run;
#   4. short benchmarks against PyTorch + cuDNN, both in FP32 (TF32 off in PyTorch, CUPY_TF32=0;
#      XPNET_GPU_TF32=on runs both in TF32), GPU memory allocated against allocated and reserved
#      against reserved;
#   5. the CuPy kernel cache, archived (newest files first, under the size limit) for a warm rerun.
# XPNET_COMPILER=none throughout: the CPU compiler (Numba) is off, so a Numba built for another
# NumPy cannot matter. Fusion fallbacks are counted in every log.
# $OUT gets at most 8 files, each kept under 15 MiB (what the device tool brings back): summary.txt,
# info.txt, probe.json, suite.log, junit.xml, runs.log (recipes, benchmark stderr), bench.jsonl,
# cupy-cache.tar.gz.
#
# Here, before the call: ../shared/gpu/prepare-wheels.sh (the wheels the machine lacks, in .whl/).
# The call: carry [".whl"] (and ".cupy-cache" once a previous run's cupy-cache.tar.gz has been
# unpacked here: `tar -xzf cupy-cache.tar.gz`, so the kernels come compiled), command
# `bash ci/gpu-all.sh`. MNIST comes from data/mnist, which is in the repository.
#
# Dry run on the CPU, end to end in well under 2 minutes (device cpu, tiny sizes, no wheels):
#   XPNET_GPU_DRY_RUN=1 OUT=/tmp/dry bash ci/gpu-all.sh        (tests/integration/test_gpu_script.py)
# Arguments, if any, are pytest's selection for stage 2 (default "-m gpu"; ci/gpu-suite.sh passes
# the whole suite). Knobs (mostly for the tests): XPNET_GPU_STAGES (default "info probe suite
# recipes bench cache"), XPNET_GPU_SUITE (the selection, split at spaces, when there are no
# arguments), XPNET_GPU_BUDGET (seconds in all), XPNET_SUITE_BUDGET / XPNET_SUITE_GRACE
# (seconds for the suite / before SIGINT stops a hung test), XPNET_SUITE_KILL (seconds from
# SIGINT to SIGKILL, should pytest not stop), XPNET_SUITE_WORKERS (xdist workers,
# default 8 on the GPU, 0 in the dry run), XPNET_GPU_WHEELS (default .whl), CUPY_CACHE_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-/tmp/xpnet-gpu}
mkdir -p "$out"
dry=${XPNET_GPU_DRY_RUN:-0}
py=${PYTHON:-python3}
stages=" ${XPNET_GPU_STAGES:-info probe suite recipes bench cache} "
if [ $# -gt 0 ]; then suite=("$@")      # pytest's selection: the arguments, else XPNET_GPU_SUITE
else read -ra suite <<< "${XPNET_GPU_SUITE:--m gpu}"; fi
limit_bytes=$((15 * 1024 * 1024))       # the device tool brings back files of up to 16 MiB
export PYTHONUNBUFFERED=1 XPNET_COMPILER=none
export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$root/.cupy-cache}
if [ "$dry" = 1 ]; then
  device=cpu
  total=${XPNET_GPU_BUDGET:-240}
  probe_args="--batch 8"; budget_probe=60
  limit="--limit 128"; warm_up=0
  bench_size="--steps 2 --warmup 1 --peak-size 256 --pool-mb 1 --processes same"; seq="--seq-len 8"
  mlp_batch="8"; cnn_batch="8"; rnn_batch="8"
  budget_suite=${XPNET_SUITE_BUDGET:-60}; budget_run=60
  workers=${XPNET_SUITE_WORKERS:-0}
else
  device=cuda
  total=${XPNET_GPU_BUDGET:-420}
  probe_args=""; budget_probe=90
  limit=""; warm_up=1
  bench_size=""; seq="--seq-len 28"
  mlp_batch="128"; cnn_batch="64 256"; rnn_batch="64 256"
  budget_suite=${XPNET_SUITE_BUDGET:-200}; budget_run=60
  workers=${XPNET_SUITE_WORKERS:-8}
fi
grace=${XPNET_SUITE_GRACE:-30}
kill=${XPNET_SUITE_KILL:-20}
tf32=${XPNET_GPU_TF32:-off}
started=$SECONDS
deadline=$((SECONDS + total))
reserve=15                              # kept for the cache archive and the size checks
: > "$out/summary.txt"
stamp() { echo "[$((SECONDS - started))s] $*" | tee -a "$out/summary.txt"; }
# seconds a stage may take: its own budget, or what is left before the reserve if that is less
# (at least 1: `timeout 0` would mean no limit at all)
cap() {
  local left=$((deadline - reserve - SECONDS))
  if [ "$1" -lt "$left" ]; then echo "$1"; else echo $((left > 1 ? left : 1)); fi
}
# timeout's exit codes, in words
why() {
  case $1 in
    0) echo "exit 0" ;; 124) echo "stopped at its time limit (SIGINT)" ;;
    137) echo "KILLED after its time limit" ;; *) echo "exit $1" ;;
  esac
}

# 0. the wheels the machine lacks; without them every cuda case would error
if [ "$dry" = 1 ]; then
  export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
else
  wheels=${XPNET_GPU_WHEELS:-.whl}
  site=${XPNET_GPU_SITE:-/tmp/site}
  if ls "$wheels"/*.whl >/dev/null 2>&1; then
    if ! "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$wheels"/*.whl > "$out/info.txt" 2>&1; then
      stamp "gpu-all: STOPPED: pip could not install the wheels in $wheels/ (see info.txt)"
      exit 2
    fi
    export PYTHONPATH="$site:$root${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
if ! "$py" -c "import array_api_compat, array_api_strict" >/dev/null 2>&1; then
  stamp "gpu-all: STOPPED: array-api-compat and array-api-strict cannot be imported (no wheels" \
    "in ${XPNET_GPU_WHEELS:-.whl}/): run ../shared/gpu/prepare-wheels.sh here and call with" \
    "carry [\".whl\"]"
  exit 2
fi

# 1. what the machine is, then the probe (its report is written section by section)
if [[ $stages == *" info "* ]]; then
  timeout -s INT -k 5 "$(cap 60)" "$py" -m xpnet info > "$out/info.txt" 2>&1
  stamp "info: $(grep -E '^(cupy|torch|numba|cuda:0|no CUDA)' "$out/info.txt" | tr '\n' ';')"
fi
if [[ $stages == *" probe "* ]]; then
  echo "--- ci/gpu_probe.py --device $device" >> "$out/info.txt"
  timeout -s INT -k 5 "$(cap $budget_probe)" "$py" ci/gpu_probe.py --device "$device" \
    --out "$out/probe.json" $probe_args >> "$out/info.txt" 2>&1
  status=$?
  grep -E "^probe" "$out/info.txt" >> "$out/summary.txt"
  stamp "probe: $(why $status)"
fi

# 2. the cuda cases of the suite: full log and junit back; failing names printed (-rfE)
if [[ $stages == *" suite "* ]]; then
  parallel=""
  if [ "$workers" -gt 1 ] && "$py" -c "import xdist" >/dev/null 2>&1; then
    parallel="-n $workers"
  fi
  failures=$(mktemp)                    # written test by test: survives a killed pytest
  window=$(cap $((budget_suite + grace)))
  budget=$((window > grace ? window - grace : 1))
  # the budget skips what is not started in time; SIGINT, $grace s later, stops a hung test
  # (pytest then writes its summary and junit.xml); SIGKILL $kill s after that
  PYTHONPATH="$root/ci${PYTHONPATH:+:$PYTHONPATH}" \
    timeout -s INT -k "$kill" $((budget + grace)) "$py" -m pytest -q -p no:cacheprovider \
    -p suite_budget --suite-budget "$budget" --suite-failures "$failures" $parallel \
    -rfE --tb=short --junitxml="$out/junit.xml" "${suite[@]}" > "$out/suite.log" 2>&1
  status=$?
  counts=$(grep -E "[0-9]+ (passed|failed|skipped|errors?|deselected|x?failed|xpassed)|no tests ran" \
    "$out/suite.log" | tail -1)
  stamp "suite (${suite[*]}, ${parallel:-one process}, budget ${budget} s):" \
    "${counts:-$(tail -1 "$out/suite.log")} [$(why $status)]"
  grep -E "^suite budget:" "$out/suite.log" >> "$out/summary.txt"
  [ "$status" = 124 ] && grep -E ": KeyboardInterrupt$" "$out/suite.log" | head -3 \
    | sed 's/^/interrupted in: /' >> "$out/summary.txt"
  if [ -s "$out/junit.xml" ]; then
    "$py" -c 'import sys, xml.etree.ElementTree as ET
suites = list(ET.parse(sys.argv[1]).iter("testsuite"))
n = [sum(int(e.get(k, 0)) for e in suites) for k in ("tests", "failures", "errors", "skipped")]
print("junit.xml: %d tests, %d failed, %d errors, %d skipped" % tuple(n))' \
      "$out/junit.xml" >> "$out/summary.txt" 2>&1
  else
    echo "junit.xml MISSING (pytest did not get to write it)" >> "$out/summary.txt"
  fi
  echo "failures and errors: $(wc -l < "$failures") (first 30 below; all in suite.log and" \
    "junit.xml)" >> "$out/summary.txt"
  head -30 "$failures" >> "$out/summary.txt"
  rm -f "$failures"
fi

runs=$(mktemp -d)            # recipe outputs stay on the machine; their final lines come back
# 3. the recipes: a short warm-up run (compiles every kernel), then one timed epoch each
if [[ $stages == *" recipes "* ]]; then
  for recipe in mnist-cnn mnist-lstm; do
    if [ "$warm_up" = 1 ]; then
      timeout -s INT -k 5 "$(cap $budget_run)" "$py" -m xpnet train "$recipe" \
        --device "$device" --epochs 1 --limit 128 --out "$runs/warm-$recipe" --quiet \
        >> "$out/runs.log" 2>&1
    fi
    timeout -s INT -k 5 "$(cap $budget_run)" "$py" -m xpnet train "$recipe" --device "$device" \
      --epochs 1 $limit --out "$runs/$recipe" --quiet >> "$out/runs.log" 2>&1
    status=$?
    stamp "$recipe: $(tail -1 "$out/runs.log") [$(why $status)]"
  done
fi

# 4. the benchmarks against PyTorch on the same device, one repeat each, memory per line
if [[ $stages == *" bench "* ]]; then
  bench() {
    echo "--- benchmarks.run $*" >> "$out/runs.log"
    timeout -s INT -k 5 "$(cap $budget_run)" "$py" -m benchmarks.run "$@" --device "$device" \
      --repeats 1 --tf32 "$tf32" --out "$out/bench.jsonl" $bench_size \
      > /dev/null 2>> "$out/runs.log"
    status=$?
    [ "$status" = 0 ] || stamp "benchmarks.run $1: $(why $status) (see runs.log)"
  }
  bench mlp --batch $mlp_batch
  bench cnn --batch $cnn_batch
  bench rnn --cells lstm $seq --batch $rnn_batch
  bench char-transformer
  if [ -s "$out/bench.jsonl" ]; then
    "$py" ci/summarize_bench.py "$out/bench.jsonl" >> "$out/summary.txt" 2>&1
    "$py" -m benchmarks.run _gpu_memory "$out/bench.jsonl" >> "$out/summary.txt" 2>&1
  fi
  if [ "$device" = cuda ]; then
    if [ "$tf32" = on ]; then how="TF32 in both: CUPY_TF32=1, PyTorch's allow_tf32 on"
    else how="FP32 in both: CUPY_TF32=0, PyTorch's allow_tf32 (cuDNN's and matmul's) off"; fi
    echo "benchmark precision: $how" >> "$out/summary.txt"
  fi
  stamp "benchmarks done"
fi

# fusion fallbacks: xpnet's warning in every log (CuPy's own switch to its other fusion engine
# says nothing: the probe's 'fused' line above reports the engines)
counts=""; fallbacks=0
for log in info.txt suite.log runs.log; do
  if [ -f "$out/$log" ]; then
    n=$(grep -c "compiler could not compile" "$out/$log")
    fallbacks=$((fallbacks + n)); counts="$counts $log $n,"
  fi
done
echo "fusion fallback warnings: $fallbacks (${counts# }" | sed 's/,$/)/' >> "$out/summary.txt"

# 5. the compiled kernels, so that a rerun can carry them in warm: newest first, under the limit
if [[ $stages == *" cache "* ]] && [ -d "$CUPY_CACHE_DIR" ]; then
  list=$(mktemp)
  (cd "$CUPY_CACHE_DIR/.." && find "$(basename "$CUPY_CACHE_DIR")" -type f -printf '%T@ %p\n' \
    | sort -rn | cut -d' ' -f2-) > "$list"
  all=$(wc -l < "$list"); keep=$all
  for _ in 1 2 3 4 5 6; do
    head -n "$keep" "$list" | tar -czf "$out/cupy-cache.tar.gz" -C "$CUPY_CACHE_DIR/.." -T -
    size=$(stat -c %s "$out/cupy-cache.tar.gz")
    [ "$size" -le "$limit_bytes" ] && break
    keep=$((keep * limit_bytes / size * 9 / 10))
  done
  if [ "$(stat -c %s "$out/cupy-cache.tar.gz")" -gt "$limit_bytes" ]; then
    rm -f "$out/cupy-cache.tar.gz"; keep=0
  fi
  archived=$(du -h "$out/cupy-cache.tar.gz" 2>/dev/null | cut -f1)
  stamp "cupy cache: $keep of $all files archived (${archived:-nothing})"
  rm -f "$list"
fi
rm -rf "$runs"

# every file comes back: logs cut to their head and tail, anything else compressed, or dropped
for f in "$out"/*; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  [ "$size" -le "$limit_bytes" ] && continue
  case $f in
    *.log|*.txt|*.jsonl)
      { head -c $((1024 * 1024)) "$f"; printf '\n[... %s bytes cut ...]\n' "$size";
        tail -c $((limit_bytes - 2 * 1024 * 1024)) "$f"; } > "$f.cut" && mv "$f.cut" "$f"
      echo "$(basename "$f") was $size bytes: cut to its first MiB and its last 13" \
        >> "$out/summary.txt" ;;
    *)
      name=$(basename "$f")
      gzip -f "$f"
      if [ "$(stat -c %s "$f.gz")" -gt "$limit_bytes" ]; then
        rm -f "$f.gz"; echo "$name was over the size limit even compressed: dropped" \
          >> "$out/summary.txt"
      else
        echo "$name was $size bytes: compressed to $name.gz" >> "$out/summary.txt"
      fi ;;
  esac
done
files=$(find "$out" -maxdepth 1 -type f | wc -l)
[ "$files" -le 8 ] || echo "WARNING: $files files in \$OUT, the device tool brings back 8" \
  >> "$out/summary.txt"
stamp "total"
cat "$out/summary.txt"
