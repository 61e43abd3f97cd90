#!/usr/bin/env bash
# Set up (idempotent), start a local Mosquitto unless one is running, and run the bridge on
# examples/demo.yaml (or the config given as $1). Prints the URLs to open and a readable topic
# watch. Environment: MQTT_PORT (default 1883); DEMO_LISTEN=0.0.0.0 lets the demo broker accept
# other machines (a Home Assistant elsewhere on the network; anonymous access, so only on a
# network you trust). Ctrl-C stops the bridge and the broker it started, and removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CONFIG="${1:-examples/demo.yaml}"
PORT="${MQTT_PORT:-1883}"
LISTEN="${DEMO_LISTEN:-127.0.0.1}"
API_PORT="${CAMERA_BRIDGE_API__PORT:-8765}"
broker="" conf=""
cleanup() {
  if [ -n "$broker" ]; then kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; fi
  if [ -n "$conf" ]; then rm -f "$conf"; fi
}
trap cleanup EXIT
if ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "[demo] starting mosquitto on $LISTEN:$PORT"
  conf="$(mktemp --suffix=.conf)"
  printf 'listener %s %s\nallow_anonymous true\npersistence false\n' "$PORT" "$LISTEN" > "$conf"
  setsid mosquitto -c "$conf" &  # its own session: Ctrl-C stops the bridge first, then the trap the broker
  broker=$!
  sleep 0.3
else
  echo "[demo] using the MQTT broker already listening on port $PORT"
fi
cat <<EOF
[demo] the command is $PWD/.venv/bin/camera-bridge (or: pipx install . -> ~/.local/bin/camera-bridge)
[demo] open:  http://127.0.0.1:$API_PORT/api/cameras                  (cameras and their status)
[demo]        http://127.0.0.1:$API_PORT/api/cameras/demo/snapshot.jpg  (the latest snapshot)
[demo]        http://127.0.0.1:$API_PORT/api/cameras/demo/mjpeg         (live MJPEG)
[demo]        http://127.0.0.1:$API_PORT/                               (the web page: cameras, events, timelapses)
[demo] watch: mosquitto_sub -p $PORT -v -t 'camera_bridge/#' -T 'camera_bridge/+/snapshot' -T 'camera_bridge/+/+/snapshot'
[demo] save:  mosquitto_sub -p $PORT -t camera_bridge/demo/snapshot -C 1 > demo.jpg
EOF
if [ "$LISTEN" = "127.0.0.1" ] && [ -n "$broker" ]; then
  echo "[demo] Home Assistant on another machine: run DEMO_LISTEN=0.0.0.0 scripts/demo.sh, then point"
  echo "[demo]   its MQTT integration at this machine's address ($(hostname -I 2>/dev/null | cut -d' ' -f1)), port $PORT"
elif [ -n "$broker" ]; then
  echo "[demo] Home Assistant: MQTT broker $(hostname -I 2>/dev/null | cut -d' ' -f1), port $PORT, no user name"
fi
.venv/bin/camera-bridge run --config "$CONFIG"
