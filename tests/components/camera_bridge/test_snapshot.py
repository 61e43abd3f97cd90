"""Every entity of a bridge with cameras (one with detection, one with a MediaMTX path) and a
timelapse: registry entry and state, compared with the stored syrupy snapshot
(``snapshots/test_snapshot.ambr``; after an intended change: ``--snapshot-update``)."""

from __future__ import annotations

from syrupy import SnapshotAssertion

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

VOLATILE = {"access_token", "entity_picture"}  # random per run


async def test_entities(hass: HomeAssistant, init_integration, snapshot: SnapshotAssertion) -> None:
    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, init_integration.entry_id)
    found = {}
    for entry in sorted(entries, key=lambda e: e.entity_id):
        state = hass.states.get(entry.entity_id)
        found[entry.entity_id] = {
            "unique_id": entry.unique_id, "category": entry.entity_category, "disabled": entry.disabled,
            "translation_key": entry.translation_key, "device_class": entry.device_class or entry.original_device_class,
            "state": state.state if state else None,
            # str(): current HA's attribute keys are StrEnum members
            "attributes": {str(k): v for k, v in sorted(state.attributes.items()) if k not in VOLATILE} if state else None,
        }
    assert found == snapshot
