"""Repair flow of the duplicate-entities issue (see duplicates.py): on confirmation, switch the
bridge's Home Assistant MQTT discovery off."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant

from .api import CameraBridgeApiError
from .compat import vol

if TYPE_CHECKING:
    from .compat import RepairsFlowResult
    from .coordinator import CameraBridgeConfigEntry


class MqttDuplicatesRepairFlow(RepairsFlow):
    """Confirm, then ``PUT /api/bridge/discovery {"enabled": false}`` on the entry's bridge."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Switch discovery off once the user agrees."""
        entry: CameraBridgeConfigEntry | None = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or getattr(entry, "runtime_data", None) is None:  # runtime_data: set once loaded
            return self.async_abort(reason="not_loaded")
        coordinator = entry.runtime_data
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                info = await coordinator.client.set_discovery(False)
            except CameraBridgeApiError:
                errors["base"] = "cannot_switch"
            else:
                coordinator.async_set_updated_data(replace(coordinator.data, info=info))
                return self.async_create_entry(title="", data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders={"title": entry.title},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow that fixes ``issue_id`` (only the duplicates issue is fixable)."""
    assert data is not None
    return MqttDuplicatesRepairFlow(str(data["entry_id"]))
