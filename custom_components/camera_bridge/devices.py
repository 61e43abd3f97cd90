"""Devices that outlive their camera or timelapse: removed from Home Assistant when the bridge
no longer has them (after each update), and removable by hand once gone."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator
from .entity import camera_device_id, timelapse_device_id


def current_identifiers(coordinator: CameraBridgeCoordinator) -> set[str]:
    """Device identifiers of what the bridge has now: itself, its cameras, its timelapses."""
    state = coordinator.data
    bridge_id = state.info.id
    return (
        {bridge_id}
        | {camera_device_id(bridge_id, cam_id) for cam_id in state.cameras}
        | {timelapse_device_id(bridge_id, tl_id) for tl_id in state.timelapses}
    )


@callback
def async_watch(hass: HomeAssistant, entry: CameraBridgeConfigEntry, coordinator: CameraBridgeCoordinator) -> None:
    """After every successful update, remove the entry's devices the bridge no longer has."""

    @callback
    def _prune() -> None:
        if not coordinator.last_update_success or coordinator.data is None:
            return
        keep = current_identifiers(coordinator)
        registry = dr.async_get(hass)
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            ours = {ident for domain, ident in device.identifiers if domain == DOMAIN}
            if ours and not ours & keep:
                registry.async_remove_device(device.id)  # a device belongs to this entry only

    entry.async_on_unload(coordinator.async_add_listener(_prune))


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow deleting a device by hand only when the bridge no longer has it."""
    coordinator: CameraBridgeCoordinator | None = getattr(entry, "runtime_data", None)
    if coordinator is None or coordinator.data is None:
        return True
    ours = {ident for domain, ident in device.identifiers if domain == DOMAIN}
    return not ours & current_identifiers(coordinator)
