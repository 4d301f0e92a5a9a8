#!/usr/bin/env bash
# The CPU suite as CI runs it (cpu and strict devices; torch too when installed).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q "$@"
