#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite against real peers: Mosquitto, the RTSP
# server, ffmpeg, umockdev and a real Home Assistant core. Extra arguments go to the bridge's
# pytest run; then the Home Assistant component's tests (tests/components/, in .venv-ha with
# HA 2024.3.3; --confcutdir keeps the bridge's tests/conftest.py out of that run) run too, and
# again on the current Home Assistant (../shared/ha_current/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# the test data folder (footage, models, the RTSP server, the Home Assistant probe): ../shared
# beside the checkout, or CAMERA_BRIDGE_TEST_DATA=DIR; checked first, before any install
DATA="${CAMERA_BRIDGE_TEST_DATA:-../shared}"
for need in media/pedestrians_720p.mp4 rtsp/rtsp_loop_server.py models/yolox_nano.onnx usb/webcam_c270.umockdev \
            mediamtx/mediamtx.yml ha_e2e/setup.sh ha_current/run.sh; do
  if [ ! -e "$DATA/$need" ]; then
    echo "scripts/test.sh: test data missing: $DATA/$need not found; put the test data folder at ../shared beside the checkout or set CAMERA_BRIDGE_TEST_DATA=DIR" >&2
    exit 2
  fi
done
CAMERA_BRIDGE_TEST_DATA="$(cd "$DATA" && pwd)"
export CAMERA_BRIDGE_TEST_DATA
bash scripts/setup.sh --with-ha
status=0
bash scripts/lint.sh || status=$?
# end-to-end tests against real peers (RTSP server, browser) can lose a race on a slow machine:
# a failed test runs once more (reported as R / "rerun", named in the summary by -rfER; a real
# failure fails twice)
.venv/bin/python -m pytest -p no:cacheprovider --reruns 1 --reruns-delay 2 -rfER "$@" || status=$?
CAMERA_BRIDGE_PYTHON="${CAMERA_BRIDGE_PYTHON:-$PWD/.venv/bin/python}" \
  .venv-ha/bin/python -m pytest -p no:cacheprovider --confcutdir=tests/components tests/components \
  || status=$?
# and on the current Home Assistant (ha_current of the test data: a Debian testing root, Python 3.14);
# its real-bridge tests get their bridges from a launcher out here (the root has no bridge venv)
exec {launcher_out}< <(exec .venv/bin/python -m tests.components.camera_bridge.bridge_launcher)
launcher=$!; read -r -u "$launcher_out" launcher_url
HA_CURRENT_REAL_BRIDGE=1 bash "$CAMERA_BRIDGE_TEST_DATA/ha_current/run.sh" "$PWD" --bridge-launcher="$launcher_url" || status=$?
kill "$launcher" 2>/dev/null || true
exit $status
