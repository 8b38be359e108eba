#!/usr/bin/env bash
# Run the whole test suite in .venv. Where ROS 2 Humble is installed (/opt/ros/humble), source
# it so the node and launch tests run against it; elsewhere they skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
ROS_SETUP=${ROS_SETUP:-/opt/ros/humble/setup.bash}
if [ -f "$ROS_SETUP" ]; then
  # shellcheck disable=SC1090
  set +u; source "$ROS_SETUP"; set -u
  export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_cyclonedds_cpp}
  export ROS_LOCALHOST_ONLY=1
  # Camera frames are megabytes on a best-effort subscription: with the 208 KiB default socket
  # buffer Cyclone DDS drops whole frames when fragments arrive faster than they are read.
  export CYCLONEDDS_URI=${CYCLONEDDS_URI:-'<CycloneDDS><Domain><Internal><SocketReceiveBufferSize min="default" max="4MB"/></Internal><Discovery><MaxAutoParticipantIndex>32</MaxAutoParticipantIndex></Discovery></Domain></CycloneDDS>'}
  # Pure-Python packages the ROS 2 Python modules import at run time.
  .venv/bin/python -m pip install -q -r requirements-ros-runtime.txt
  echo "ROS 2: $ROS_SETUP ($RMW_IMPLEMENTATION)" >&2
else
  echo "ROS 2 not found at $ROS_SETUP: the node and launch tests will be skipped" >&2
fi
exec .venv/bin/python -m pytest -q -rs "$@"
