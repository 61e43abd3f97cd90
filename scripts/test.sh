#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite against real peers: Mosquitto, the RTSP
# server, ffmpeg, umockdev and a real Home Assistant core. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-ha
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
