#!/usr/bin/env bash
# Lint and type-check (part of scripts/test.sh, so of CI): ruff (lint and format) on the bridge,
# the component, the tests and bench/; mypy on bridge/ (the bridge's venv) and on the component
# (against Home Assistant 2024.3.3 in .venv-ha, which ships no types), and `mypy --strict` on the
# component against the current Home Assistant's types (the quality scale's strict-typing), in
# the ha_current root that scripts/setup.sh --with-ha builds. Settings: pyproject.toml. Zero
# findings, or exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/ruff check bridge custom_components || status=1
.venv/bin/ruff format --check bridge custom_components || status=1
.venv/bin/mypy bridge || status=1
if [ -x .venv-ha/bin/python ]; then
  .venv/bin/mypy --python-executable .venv-ha/bin/python custom_components || status=1
fi
# strict, in the current HA root: the component and pyproject.toml copied to a folder of this
# checkout's there (its .mypy_cache stays: a few seconds once warm, about a minute cold)
DATA="${CAMERA_BRIDGE_TEST_DATA:-../shared}"
HA_ROOT="${HA_CURRENT_CACHE:-/tmp/ha-current}/root"
if [ -x "$HA_ROOT/opt/ha-venv/bin/mypy" ]; then
  dir="/srv/camera_bridge_typing/$(printf '%s' "$PWD" | md5sum | cut -c1-12)"
  rm -rf "$HA_ROOT$dir/custom_components"
  mkdir -p "$HA_ROOT$dir/custom_components"
  cp -a custom_components/__init__.py custom_components/camera_bridge "$HA_ROOT$dir/custom_components/"
  cp -a pyproject.toml "$HA_ROOT$dir/"
  find "$HA_ROOT$dir/custom_components" -name __pycache__ -prune -exec rm -rf {} +
  bash "$DATA/ha_current/setup.sh" --exec /bin/sh -c 'cd "$1" && echo "[lint] mypy --strict against homeassistant $(python -c "from homeassistant.const import __version__ as v; print(v)")" &&
    exec python -m mypy --strict --python-version "$(python -c "import sys; print(*sys.version_info[:2], sep=\".\")")" custom_components/camera_bridge' sh "$dir" \
    || status=1
elif [ -x .venv-ha/bin/python ]; then  # set up for the component's checks, but not for this one
  echo "[lint] no mypy in the current Home Assistant root $HA_ROOT: run scripts/setup.sh --with-ha" >&2
  status=1
fi
exit $status
