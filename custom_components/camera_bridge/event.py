"""Event entities: one per camera and tracked label (``person``, ...), firing ``new`` when the
bridge starts tracking an object and ``end`` when it leaves, with the event's label, score, box
and zones as attributes: the trigger for "person at the door" automations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import Event, callback

from .const import EVENT_BRIDGE
from .detection import DETECTION_EVENT
from .entity import CameraBridgeCameraEntity, add_entities, detect_labels

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

#: entities only read the coordinator's data (pushed or polled once for all): no limit
PARALLEL_UPDATES = 0

EVENT_TYPES = ["new", "end"]
#: ``snapshot_url``/``clip_url``: signed links that work without the API key (a notification's
#: image), or bridge paths when the key may not make them (see the coordinator)
ATTRIBUTES = (
    "id",
    "label",
    "score",
    "top_score",
    "box",
    "zones",
    "start_time",
    "end_time",
    "end_reason",
    "snapshot_url",
    "clip_url",
)


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add a detection event entity per camera and tracked label."""
    coordinator = entry.runtime_data
    add_entities(
        entry,
        async_add_entities,
        "cameras",
        lambda cam_id: [
            DetectionEvent(coordinator, cam_id, label) for label in detect_labels(coordinator.data.cameras[cam_id])
        ],
    )


class DetectionEvent(CameraBridgeCameraEntity, EventEntity):
    """Fires on the bridge's ``detection`` events of one camera and label."""

    _attr_translation_key = "detection"
    _attr_event_types = EVENT_TYPES

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str, label: str) -> None:
        super().__init__(coordinator, camera_id, EventEntityDescription(key=f"{label}_detection"))
        self.label = label
        self._attr_translation_placeholders = {"label": label.replace("_", " ").capitalize()}

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self.hass.bus.async_listen(EVENT_BRIDGE, self._on_bridge_event))

    @callback
    def _on_bridge_event(self, event: Event) -> None:
        data: Mapping[str, Any] = event.data
        if (
            data.get("event") != DETECTION_EVENT
            or data.get("bridge_id") != self.coordinator.data.info.id
            or data.get("camera") != self.camera_id
            or data.get("label") != self.label
            or data.get("type") not in EVENT_TYPES
        ):
            return
        self._trigger_event(data["type"], {k: data[k] for k in ATTRIBUTES if k in data})
        self.async_write_ha_state()
