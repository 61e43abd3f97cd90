#!/usr/bin/env bash
# Lint and type-check (part of scripts/test.sh, so of CI): ruff (lint and format) on the bridge,
# the component, the tests and bench/; mypy on bridge/ (the bridge's venv) and on the component
# (against Home Assistant 2024.3.3 in .venv-ha). Settings: pyproject.toml. Zero findings, or exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/ruff check bridge custom_components || status=1
.venv/bin/ruff format --check bridge custom_components || status=1
.venv/bin/mypy bridge || status=1
if [ -x .venv-ha/bin/python ]; then
  .venv/bin/mypy --python-executable .venv-ha/bin/python custom_components || status=1
fi
exit $status
