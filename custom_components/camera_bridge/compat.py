"""What differs between the Home Assistant releases the integration supports (2024.3 to current),
decided once here from what the running Home Assistant offers, so no caller branches on versions.

- ``DataUpdateCoordinator(config_entry=...)``: a parameter from 2024.11, required from 2026.8
  (before, the entry comes from a ContextVar): :data:`COORDINATOR_TAKES_ENTRY`.
- A child device's link to its parent: ``DeviceInfo(via_device=(domain, identifier))`` up to
  2026.7; ``via_device_id`` (the parent's device registry id) from 2026.8, where ``via_device``
  is deprecated (it stops working in 2027.8): :func:`via_device`.
- Finding a device by identifier: ``async_get_device(identifiers=...)`` before, deprecated from
  2026.8 (identifiers are unique per config entry only) for
  ``async_get_device_by_identifier(identifier, config_entry_id)``: :func:`get_device`.
- ``ConfigFlowResult`` (from 2024.4; ``FlowResult`` before): :data:`ConfigFlowResult`.
- ``UpdateFailed`` takes a translation (a ``HomeAssistantError`` from 2024.9; a plain exception
  before): :func:`update_failed`.
- A repair flow's result: ``RepairsFlowResult`` (``FlowResult`` before), for annotations only:
  ``RepairsFlowResult``.
- Form and service schemas: Home Assistant validates with probatio (voluptuous' API) in current
  releases and aliases ``voluptuous`` to it at start; 2024.3 uses voluptuous. At run time
  :data:`vol` is ``voluptuous``, so whichever library the running Home Assistant validates with;
  type checkers see probatio, which current Home Assistant's signatures name.

Typing: the integration is checked with ``mypy --strict`` against current Home Assistant (see
scripts/lint.sh); 2024.3 ships no type information, so there every Home Assistant name is ``Any``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, TypedDict, cast

from homeassistant.config_entries import ConfigEntry
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

if TYPE_CHECKING:
    import probatio as vol

    # for annotations only (repairs.py imports it for type checkers): no import of the repairs
    # integration when this module loads
    from homeassistant.components.repairs import RepairsFlowResult
    from homeassistant.config_entries import ConfigFlowResult
else:
    # the running HA's: current releases alias voluptuous to probatio when they start
    import voluptuous as vol

    try:
        from homeassistant.config_entries import ConfigFlowResult
    except ImportError:  # HA 2024.3
        from homeassistant.data_entry_flow import FlowResult as ConfigFlowResult

__all__ = [
    "COORDINATOR_TAKES_ENTRY",
    "VIA_DEVICE_ID",
    "ConfigFlowResult",
    "CoordinatorEntry",
    "RepairsFlowResult",
    "coordinator_entry",
    "get_device",
    "update_failed",
    "via_device",
    "vol",
]

#: whether ``DataUpdateCoordinator.__init__`` takes ``config_entry``
COORDINATOR_TAKES_ENTRY: bool = "config_entry" in inspect.signature(DataUpdateCoordinator.__init__).parameters
#: whether ``DeviceInfo`` links a child device by the parent's registry id (``via_device_id``)
VIA_DEVICE_ID: bool = "via_device_id" in (DeviceInfo.__required_keys__ | DeviceInfo.__optional_keys__)
_BY_IDENTIFIER: bool = hasattr(dr.DeviceRegistry, "async_get_device_by_identifier")
_UPDATE_FAILED_TRANSLATED: bool = issubclass(UpdateFailed, HomeAssistantError)


class CoordinatorEntry(TypedDict, total=False):
    """The keyword arguments that give a ``DataUpdateCoordinator`` its config entry."""

    config_entry: ConfigEntry


def coordinator_entry(entry: ConfigEntry) -> CoordinatorEntry:
    """``{"config_entry": entry}`` where ``DataUpdateCoordinator`` takes it, else nothing (HA
    before 2024.11 finds the entry being set up by itself): ``DataUpdateCoordinator(...,
    **coordinator_entry(entry))``."""
    return CoordinatorEntry(config_entry=entry) if COORDINATOR_TAKES_ENTRY else CoordinatorEntry()


def update_failed(message: str, domain: str, key: str, placeholders: dict[str, str]) -> UpdateFailed:
    """``UpdateFailed(message)``, translated (``domain``'s exception ``key``) where it can be."""
    if _UPDATE_FAILED_TRANSLATED:
        return UpdateFailed(
            message, translation_domain=domain, translation_key=key, translation_placeholders=placeholders
        )
    return UpdateFailed(message)


def via_device(parent: dr.DeviceEntry) -> DeviceInfo:
    """The ``DeviceInfo`` fields that link a child device to ``parent`` (a registered device):
    ``via_device_id`` where the running HA has it, else ``via_device`` (its first identifier)."""
    if VIA_DEVICE_ID:
        return DeviceInfo(via_device_id=parent.id)
    # the HA releases without via_device_id take via_device; current HA's DeviceInfo type no
    # longer names that key, so the dict is given the type of the DeviceInfo the running HA reads
    return cast(DeviceInfo, {"via_device": next(iter(sorted(parent.identifiers)))})


def get_device(registry: dr.DeviceRegistry, identifier: tuple[str, str], config_entry_id: str) -> dr.DeviceEntry | None:
    """The device of ``config_entry_id`` with ``identifier`` (``(domain, id)``), None if none."""
    if _BY_IDENTIFIER:
        return registry.async_get_device_by_identifier(identifier, config_entry_id)
    device = registry.async_get_device(identifiers={identifier})
    return device if device is not None and config_entry_id in device.config_entries else None
