#!/usr/bin/env bash
# The whole suite on the GPU machine (see ../shared/gpu/README.md): run from the device tool with
# carry [".whl"] after ../shared/gpu/prepare-wheels.sh. Writes the log under $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
out=${OUT:-/tmp}
python3 -c "import cupy; print('cupy', cupy.__version__, cupy.cuda.runtime.getDeviceCount(), 'GPU(s)')"
python3 -m pytest -q -p no:cacheprovider -rs "$@" 2>&1 | tee "$out/gpu-suite.log"
