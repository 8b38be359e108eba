#!/usr/bin/env bash
# Create or reuse .venv in the repo root and install the package with everything the demo and
# the tests need. Re-installs only when setup.py, constraints.txt or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.jetauto-installed
want=$(cat setup.py constraints.txt scripts/setup_venv.sh | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv (first run: a few minutes) ..." >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e '.[cpu,mediapipe,eval,test]'
# The TensorRT type stubs depend on the real TensorRT wheels, which only NVIDIA's index has:
# install the stubs alone (they are only used by mypy).
.venv/bin/python -m pip install -q --no-deps tensorrt-stubs
echo "$want" > "$stamp"
