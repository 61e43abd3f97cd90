"""Binary sensors: each camera's connectivity (streaming or not) and the bridge's push channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory

from .api import Camera
from .entity import (
    CameraBridgeCameraEntity,
    CameraBridgeEntity,
    CameraBridgeTimelapseEntity,
    add_entities,
    detect_labels,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

#: entities only read the coordinator's data (pushed or polled once for all): no limit
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CameraBinarySensorDescription(BinarySensorEntityDescription):
    """A camera binary sensor: ``is_on_fn`` reads it from the camera."""

    is_on_fn: Callable[[Camera], bool | None]


CAMERA_BINARY_SENSORS: tuple[CameraBinarySensorDescription, ...] = (
    CameraBinarySensorDescription(
        key="connectivity",
        translation_key="connectivity",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda cam: cam.state == "streaming",
    ),
)

MOTION = BinarySensorEntityDescription(
    key="motion", translation_key="motion", device_class=BinarySensorDeviceClass.MOTION
)

TIMELAPSE_PROBLEM = BinarySensorEntityDescription(
    key="problem", translation_key="timelapse_problem", device_class=BinarySensorDeviceClass.PROBLEM
)

MEDIAMTX = BinarySensorEntityDescription(
    key="mediamtx",
    translation_key="mediamtx",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)

PUSH_DESCRIPTION = BinarySensorEntityDescription(
    key="push",
    translation_key="push",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the push channel sensor and each camera's connectivity."""
    coordinator = entry.runtime_data
    async_add_entities([PushSensor(coordinator, PUSH_DESCRIPTION)])
    if coordinator.data.mediamtx is not None and coordinator.data.mediamtx.get("status") != "disabled":
        async_add_entities([MediamtxSensor(coordinator, MEDIAMTX)])

    def _camera(cam_id: str) -> list[BinarySensorEntity]:
        entities: list[BinarySensorEntity] = [CameraBinarySensor(coordinator, cam_id, d) for d in CAMERA_BINARY_SENSORS]
        labels = detect_labels(coordinator.data.cameras[cam_id])
        if labels:
            entities.append(MotionSensor(coordinator, cam_id, MOTION))
            entities += [OccupancySensor(coordinator, cam_id, label) for label in labels]
        return entities

    add_entities(entry, async_add_entities, "cameras", _camera)
    add_entities(
        entry, async_add_entities, "timelapses", lambda tl_id: [TimelapseProblem(coordinator, tl_id, TIMELAPSE_PROBLEM)]
    )


class CameraBinarySensor(CameraBridgeCameraEntity, BinarySensorEntity):
    """A yes/no of one camera's status."""

    entity_description: CameraBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        cam = self.camera
        return None if cam is None else self.entity_description.is_on_fn(cam)


class PushSensor(CameraBridgeEntity, BinarySensorEntity):
    """On while the bridge's push channel (WebSocket events) is connected; off while the
    integration falls back to polling."""

    @property
    def is_on(self) -> bool:
        return self.coordinator.push_connected


class MotionSensor(CameraBridgeCameraEntity, BinarySensorEntity):
    """Motion in the camera's view, as the bridge's detection reports it (``motion`` events;
    unknown until the first one after (re)connecting)."""

    @property
    def is_on(self) -> bool | None:
        det = self.coordinator.detections.get(self.camera_id)
        return None if det is None else det.motion


class OccupancySensor(CameraBridgeCameraEntity, BinarySensorEntity):
    """On while the bridge tracks at least one object of its label (``detection`` events)."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY
    _attr_translation_key = "occupancy"

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str, label: str) -> None:
        super().__init__(coordinator, camera_id, BinarySensorEntityDescription(key=f"{label}_occupancy"))
        self.label = label
        self._attr_translation_placeholders = {"label": label.replace("_", " ").capitalize()}

    @property
    def is_on(self) -> bool | None:
        det = self.coordinator.detections.get(self.camera_id)
        count = None if det is None else det.count(self.label)
        return None if count is None else count > 0


class TimelapseProblem(CameraBridgeTimelapseEntity, BinarySensorEntity):
    """On while a running timelapse cannot capture (``error``) or discards every frame
    (``degraded``); the bridge's reason is the ``reason`` attribute."""

    @property
    def is_on(self) -> bool | None:
        tl = self.timelapse
        return None if tl is None else tl.state in ("error", "degraded")

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        tl = self.timelapse
        return {"reason": tl.reason if tl is not None and tl.state in ("error", "degraded") else None}


class MediamtxSensor(CameraBridgeEntity, BinarySensorEntity):
    """On while the bridge's MediaMTX (the restream) answers (``/health/mediamtx``, then
    ``mediamtx.availability`` events)."""

    @property
    def is_on(self) -> bool | None:
        media = self.coordinator.data.mediamtx
        return None if media is None else media.get("status") == "available"
