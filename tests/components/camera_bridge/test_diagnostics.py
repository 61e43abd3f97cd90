"""Diagnostics carry the bridge's state with secrets, hosts and camera URLs redacted."""

from __future__ import annotations

import json

from custom_components.camera_bridge.diagnostics import async_get_config_entry_diagnostics
from homeassistant.core import HomeAssistant

from .conftest import API_KEY, FakeBridge


async def test_diagnostics_are_redacted(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    fake_bridge.push("camera.status", {"camera": "front_door", "stream_urls": {
        "rtsp": "rtsp://127.0.0.1:8554/front_door"}})
    diag = await async_get_config_entry_diagnostics(hass, init_integration)
    text = json.dumps(diag)
    for secret in (API_KEY, "192.0.2.10", "192.0.2.20", "192.0.2.21", "viewer:"):
        assert secret not in text, f"{secret} leaked into the diagnostics"
    assert diag["entry"]["data"]["api_key"] == "**REDACTED**"
    assert diag["bridge"]["id"] == fake_bridge.info["id"] and diag["push_connected"] is True
    garage = diag["cameras"]["garage"]
    assert garage["state"] == "backoff" and garage["url"] == "**REDACTED**"
    assert garage["error"] == "cannot open **REDACTED** No route to host"
