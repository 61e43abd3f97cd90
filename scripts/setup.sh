#!/usr/bin/env bash
# Install what Camera Bridge needs on Debian 12 (idempotent):
#   apt: mosquitto, ffmpeg, the RTSP test server's GStreamer packages, umockdev, chromium,
#        PostgreSQL 15 (the cluster tests start their own throw-away server with its binaries)
#   .venv: the bridge with its test extras
#   --with-ha: also the Home Assistant 2024.3.3 venvs: the end-to-end probe's (../shared/ha_e2e)
#              and .venv-ha, where the custom component's tests run (HA pins paho-mqtt 1.6.1,
#              the bridge needs 2.x: they cannot share .venv); and the current Home Assistant's
#              root (../shared/ha_current, needs root) with mypy in its venv, where
#              scripts/lint.sh type-checks the component strictly
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*"; }
#: the test data folder (media, models, RTSP server, Home Assistant probe)
DATA="${CAMERA_BRIDGE_TEST_DATA:-../shared}"

APT_PACKAGES=(mosquitto mosquitto-clients ffmpeg python3-venv python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-tools umockdev gir1.2-umockdev-1.0
  postgresql-15 chromium)  # chromium: the web page's browser tests (Playwright drives Debian's)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import bridge, pytest, pytest_asyncio, av, cv2, aiomqtt" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing the bridge and its test extras into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
  touch .venv/.installed
fi

if [ "${1:-}" = "--with-ha" ]; then
  say "Home Assistant venv for the end-to-end tests"
  bash "$DATA/ha_e2e/setup.sh"
  HA_TEST_PIN="pytest-homeassistant-custom-component==0.13.109"  # = homeassistant 2024.3.3
  if [ ! -x .venv-ha/bin/python ]; then
    say "creating .venv-ha with $($PYTHON --version)"
    "$PYTHON" -m venv .venv-ha
    .venv-ha/bin/python -m pip install -q --disable-pip-version-check "pip>=23,<24.1"
  fi
  if ! .venv-ha/bin/python -c "import pytest_homeassistant_custom_component, hass_nabucasa" 2>/dev/null; then
    say "installing $HA_TEST_PIN into .venv-ha (HA's own pins; a few minutes the first time)"
    .venv-ha/bin/python -m pip install -q --disable-pip-version-check \
      -c "$DATA/ha_e2e/constraints-ha-2024.3.3.txt" "$HA_TEST_PIN" "josepy<2"
  fi
  # HA's MQTT integration (the component's discovery test) needs file_upload's requirement
  .venv-ha/bin/python -c "import janus" 2>/dev/null \
    || .venv-ha/bin/python -m pip install -q --disable-pip-version-check "janus==1.0.0"
  # the current Home Assistant (a Debian testing root with Python 3.14; a no-op once built) and,
  # in its venv, the mypy of the test extras (pyproject.toml), for the component's strict typing
  say "current Home Assistant root (../shared/ha_current)"
  bash "$DATA/ha_current/setup.sh"
  MYPY_PIN="$(sed -n 's/^ *"\(mypy==[^"]*\)".*/\1/p' pyproject.toml | head -n 1)"
  bash "$DATA/ha_current/setup.sh" --exec /bin/sh -c '
    python -c "import importlib.metadata as m, sys; sys.exit(m.version(\"mypy\") != sys.argv[1])" "${1#mypy==}" 2>/dev/null \
      || { echo "[setup] installing $1 into the current Home Assistant root"; python -m pip install -q "$1"; }' sh "$MYPY_PIN"
fi
say "ready"
