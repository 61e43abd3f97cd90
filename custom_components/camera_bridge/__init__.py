"""The Camera Bridge integration: cameras, snapshots and health of a Camera Bridge as entities.

Setting up an entry builds the API client and the coordinator, loads the bridge's state once
(``ConfigEntryNotReady`` while it is unreachable, re-authentication when it refuses the key),
keeps it in ``entry.runtime_data``, registers the bridge's device, starts the push channel and
forwards the platforms. The services and the timelapse video views are registered once, when
the integration loads (so a video URL handed out before a restart plays at once).
"""

from __future__ import annotations

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from . import devices, duplicates, services
from .api import CameraBridgeClient
from .const import CONF_API_KEY, CONF_SSL, CONF_VERIFY_SSL, DOMAIN
from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator
from .entity import async_register_bridge_device
from .views import async_register_views

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services and video views (once, for every bridge)."""
    services.async_setup_services(hass)
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> bool:
    """Connect to one bridge and create its entities."""
    verify_ssl = entry.data.get(CONF_VERIFY_SSL, True)
    client = CameraBridgeClient(
        async_get_clientsession(hass, verify_ssl),
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        entry.data.get(CONF_API_KEY) or None,
        ssl=entry.data.get(CONF_SSL, False),
        verify_ssl=verify_ssl,
    )
    coordinator = CameraBridgeCoordinator(hass, client, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    async_register_bridge_device(hass, entry)
    coordinator.start_push(entry)
    duplicates.async_watch(hass, entry, coordinator)
    devices.async_watch(hass, entry, coordinator)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> bool:
    """Remove the bridge's entities; the push channel (a background task) stops with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async_remove_config_entry_device = devices.async_remove_config_entry_device


async def async_remove_entry(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> None:
    """Forget the bridge's repair issue when the bridge is removed."""
    duplicates.async_clear(hass, entry)
