#!/usr/bin/env bash
# The whole suite (or the pytest arguments given) on the GPU machine (see ../shared/gpu/README.md),
# with everything ci/gpu-all.sh does to bring its results back: the wheels checked first (one
# line and a stop when they are missing), XPNET_COMPILER=none, pytest-xdist workers when
# installed, a suite budget inside `timeout -s INT`, so that $OUT always gets suite.log,
# junit.xml and summary.txt (failures listed, fusion fallbacks counted), each under the size
# limit. Run from the device tool with carry [".whl"] after ../shared/gpu/prepare-wheels.sh:
#   bash ci/gpu-suite.sh                    # everything: cpu, strict, torch and cuda cases
#   bash ci/gpu-suite.sh -m gpu tests/ops   # a selection
# XPNET_SUITE_BUDGET (default 420 s) and XPNET_GPU_BUDGET (default 510 s in all) set the time:
# call it with timeout_s 570.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then set -- tests; fi
XPNET_GPU_STAGES=${XPNET_GPU_STAGES:-info suite} XPNET_SUITE_BUDGET=${XPNET_SUITE_BUDGET:-420} \
  XPNET_GPU_BUDGET=${XPNET_GPU_BUDGET:-510} exec bash ci/gpu-all.sh "$@"
