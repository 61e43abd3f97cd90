"""No duplicate entities: a bridge that also publishes Home Assistant MQTT discovery would show
every camera a second time through HA's MQTT integration.

While the bridge reports ``discovery: true`` and HA's MQTT integration has entities with the
bridge's discovery unique ids (``{node_id}_...``, ``node_id`` from ``GET /api/bridge``), a fixable
repair issue asks the user to let this integration switch the bridge's discovery off
(``PUT /api/bridge/discovery``; the bridge then clears its retained discovery configs, so the
MQTT integration removes those entities, and keeps it off across restarts). The issue goes away
by itself once discovery is off, however it was switched off (the repair, the bridge's
"MQTT discovery" switch entity, or ``mqtt.discovery: false`` in the bridge's configuration).
The choice is the user's: other MQTT consumers of the bridge may rely on discovery.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_MQTT_DUPLICATES
from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator


def issue_id(entry: CameraBridgeConfigEntry) -> str:
    """The repair issue's id for this bridge's entry."""
    return f"{ISSUE_MQTT_DUPLICATES}_{entry.entry_id}"


@callback
def async_watch(hass: HomeAssistant, entry: CameraBridgeConfigEntry, coordinator: CameraBridgeCoordinator) -> None:
    """Raise or clear the issue now and after every update of the bridge's state."""

    @callback
    def _check() -> None:
        if coordinator.data is None:
            return
        info = coordinator.data.info
        if info.discovery and mqtt_duplicates(hass, info.node_id):
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id(entry),
                is_fixable=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_MQTT_DUPLICATES,
                data={"entry_id": entry.entry_id},
                translation_placeholders={"title": entry.title, "count": str(len(mqtt_duplicates(hass, info.node_id)))},
            )
        else:
            ir.async_delete_issue(hass, DOMAIN, issue_id(entry))

    _check()
    entry.async_on_unload(coordinator.async_add_listener(_check))


@callback
def mqtt_duplicates(hass: HomeAssistant, node_id: str) -> list[str]:
    """Entity ids of HA MQTT entities made from this bridge's discovery."""
    if not node_id:
        return []
    prefix = f"{node_id}_"
    return [
        entity.entity_id
        for entity in er.async_get(hass).entities.values()
        if entity.platform == "mqtt" and entity.unique_id.startswith(prefix)
    ]


@callback
def async_clear(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> None:
    """Delete the entry's issue (the entry is being removed)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(entry))
