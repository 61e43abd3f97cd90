"""Config entry diagnostics: the entry (API key and host redacted), the bridge's state and
cameras (URLs, which may carry user names and hosts, redacted), and the push channel's state."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant

from .const import CONF_API_KEY
from .coordinator import CameraBridgeConfigEntry

TO_REDACT = {CONF_API_KEY, CONF_HOST, "title", "url", "stream_urls", "unique_id", "configuration_url"}
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def _camera(raw: dict[str, Any]) -> dict[str, Any]:
    data = async_redact_data(raw, TO_REDACT)
    if isinstance(data.get("error"), str):  # errors quote the camera's URL (password masked)
        data["error"] = _URL.sub("**REDACTED**", data["error"])
    return data


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> dict[str, Any]:
    """Everything needed to understand a bug report, nothing secret."""
    coordinator = entry.runtime_data
    state = coordinator.data
    return {
        "entry": async_redact_data(
            {"data": dict(entry.data), "options": dict(entry.options), "title": entry.title}, TO_REDACT
        ),
        "push_connected": coordinator.push_connected,
        "last_update_success": coordinator.last_update_success,
        "bridge": async_redact_data(state.info.raw, TO_REDACT),
        "cameras": {cam_id: _camera(cam.raw) for cam_id, cam in state.cameras.items()},
        "timelapses": {tl_id: tl.raw for tl_id, tl in state.timelapses.items()},
        "mediamtx": async_redact_data(state.mediamtx, TO_REDACT) if state.mediamtx else None,
    }
