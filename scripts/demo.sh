#!/usr/bin/env bash
# Set up (idempotent), start a local Mosquitto on 1883 unless one is running, and run the bridge
# on examples/demo.yaml (or the config given as $1). Watch it with:
#   mosquitto_sub -v -t 'camera_bridge/#' -t 'homeassistant/#' | cut -c1-120
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CONFIG="${1:-examples/demo.yaml}"
PORT="${MQTT_PORT:-1883}"
if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "[demo] starting mosquitto on 127.0.0.1:$PORT"
  conf="$(mktemp)"; printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$PORT" > "$conf"
  mosquitto -c "$conf" &
  broker=$!
  trap 'kill $broker 2>/dev/null' EXIT
  sleep 0.3
fi
echo "[demo] web page: http://127.0.0.1:8765/ (api.port of $CONFIG)"
echo "[demo] snapshots: mosquitto_sub -p $PORT -t camera_bridge/demo/snapshot -C 1 > demo.jpg"
.venv/bin/camera-bridge run --config "$CONFIG"
