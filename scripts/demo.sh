#!/usr/bin/env bash
# The main job on its embedded default: the whole pipeline over the shared video, without ROS.
# Writes out/demo/demo.mp4 and out/demo/results.jsonl. Extra arguments go to the demo command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/jetauto-perception demo --output out/demo "$@"
