"""Options of the component's tests (this folder is pytest's --confcutdir, so this conftest is
loaded first and may add options)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bridge-launcher", default=None, metavar="URL",
                     help="start the real-bridge tests' bridges through this launcher "
                          "(camera_bridge/bridge_launcher.py, run where the bridge's venv is)")
