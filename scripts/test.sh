#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite against real peers: Mosquitto, the RTSP
# server, ffmpeg, umockdev and a real Home Assistant core. Extra arguments go to the bridge's
# pytest run; then the Home Assistant component's tests (tests/components/, in .venv-ha with
# HA 2024.3.3; --confcutdir keeps the bridge's tests/conftest.py out of that run) run too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-ha
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
CAMERA_BRIDGE_PYTHON="${CAMERA_BRIDGE_PYTHON:-$PWD/.venv/bin/python}" \
  .venv-ha/bin/python -m pytest -p no:cacheprovider --confcutdir=tests/components tests/components \
  || status=$?
exit $status
