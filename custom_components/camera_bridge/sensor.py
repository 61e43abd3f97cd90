"""Sensors: per camera frame rate, last frame, state, reconnects; for the bridge its start time
and version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.util import dt as dt_util

from .api import BridgeInfo, Camera, Timelapse
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

CAMERA_STATES = ["connecting", "streaming", "backoff", "error", "stopped", "offline", "disabled"]
TIMELAPSE_STATES = ["created", "running", "paused", "stopped", "completed", "degraded", "error"]


def _timestamp(value: str | None) -> datetime | None:
    return dt_util.parse_datetime(value) if value else None


@dataclass(frozen=True, kw_only=True)
class CameraSensorDescription(SensorEntityDescription):
    """A camera sensor: ``value_fn`` reads its value from the camera."""

    value_fn: Callable[[Camera], Any]


@dataclass(frozen=True, kw_only=True)
class BridgeSensorDescription(SensorEntityDescription):
    """A bridge sensor: ``value_fn`` reads its value from the bridge info."""

    value_fn: Callable[[BridgeInfo], Any]


@dataclass(frozen=True, kw_only=True)
class TimelapseSensorDescription(SensorEntityDescription):
    """A timelapse sensor: ``value_fn`` reads its value from the timelapse."""

    value_fn: Callable[[Timelapse], Any]


def _render_percent(tl: Timelapse) -> float | None:
    render = tl.render or {}
    return render.get("percent") if render.get("state") == "running" else None


TIMELAPSE_SENSORS: tuple[TimelapseSensorDescription, ...] = (
    TimelapseSensorDescription(
        key="state",
        translation_key="timelapse_state",
        device_class=SensorDeviceClass.ENUM,
        options=TIMELAPSE_STATES,
        value_fn=lambda tl: tl.state,
    ),
    TimelapseSensorDescription(
        key="frames", translation_key="frames", state_class=SensorStateClass.TOTAL, value_fn=lambda tl: tl.frames
    ),
    TimelapseSensorDescription(
        key="render_progress",
        translation_key="render_progress",
        native_unit_of_measurement="%",
        suggested_display_precision=0,
        value_fn=_render_percent,
    ),
    TimelapseSensorDescription(
        key="last_capture",
        translation_key="last_capture",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda tl: _timestamp(tl.last_capture_at),
    ),
)

CAMERA_SENSORS: tuple[CameraSensorDescription, ...] = (
    CameraSensorDescription(
        key="fps",
        translation_key="fps",
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda cam: cam.fps,
    ),
    CameraSensorDescription(
        key="last_frame",
        translation_key="last_frame",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda cam: _timestamp(cam.last_frame_at),
    ),
    CameraSensorDescription(
        key="state",
        translation_key="camera_state",
        device_class=SensorDeviceClass.ENUM,
        options=CAMERA_STATES,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda cam: cam.state,
    ),
    CameraSensorDescription(
        key="reconnects",
        translation_key="reconnects",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=False,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda cam: cam.reconnects,
    ),
)

INFERENCE_TIME = SensorEntityDescription(
    key="inference_time",
    translation_key="inference_time",
    native_unit_of_measurement="ms",
    device_class=SensorDeviceClass.DURATION,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
)

READERS = CameraSensorDescription(
    key="readers",
    translation_key="readers",
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda cam: (cam.raw.get("mediamtx") or {}).get("readers"),
)

BRIDGE_SENSORS: tuple[BridgeSensorDescription, ...] = (
    BridgeSensorDescription(
        key="started_at",
        translation_key="started_at",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: _timestamp(info.started_at),
    ),
    BridgeSensorDescription(
        key="version",
        translation_key="version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: info.version,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the bridge's sensors and each camera's."""
    coordinator = entry.runtime_data
    async_add_entities(BridgeSensor(coordinator, desc) for desc in BRIDGE_SENSORS)

    def _camera(cam_id: str) -> list[SensorEntity]:
        entities: list[SensorEntity] = [CameraSensor(coordinator, cam_id, d) for d in CAMERA_SENSORS]
        cam = coordinator.data.cameras[cam_id]
        entities += [ObjectCountSensor(coordinator, cam_id, label) for label in detect_labels(cam)]
        if detect_labels(cam):
            entities.append(InferenceTimeSensor(coordinator, cam_id, INFERENCE_TIME))
        if isinstance(cam.raw.get("mediamtx"), dict):
            entities.append(CameraSensor(coordinator, cam_id, READERS))
        return entities

    add_entities(entry, async_add_entities, "cameras", _camera)
    add_entities(
        entry,
        async_add_entities,
        "timelapses",
        lambda tl_id: [TimelapseSensor(coordinator, tl_id, d) for d in TIMELAPSE_SENSORS],
    )


class CameraSensor(CameraBridgeCameraEntity, SensorEntity):
    """A value of one camera's status."""

    entity_description: CameraSensorDescription

    @property
    def native_value(self) -> Any:
        cam = self.camera
        return None if cam is None else self.entity_description.value_fn(cam)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The state sensor of a camera with several streams: each stream's ``roles``,
        ``state``, ``fps``, ``width``, ``height`` and ``codec``, as ``streams``."""
        cam = self.camera
        if self.entity_description.key != "state" or cam is None or len(cam.streams) < 2:
            return None
        keys = ("roles", "state", "fps", "width", "height", "codec")
        return {"streams": [{k: stream.get(k) for k in keys} for stream in cam.streams]}


class BridgeSensor(CameraBridgeEntity, SensorEntity):
    """A value of the bridge."""

    entity_description: BridgeSensorDescription

    @property
    def native_value(self) -> Any:
        return self.entity_description.value_fn(self.coordinator.data.info)


class ObjectCountSensor(CameraBridgeCameraEntity, SensorEntity):
    """How many objects of a label the bridge tracks in the camera's view now (``detection``
    events; unknown until the first one after (re)connecting)."""

    _attr_translation_key = "object_count"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str, label: str) -> None:
        super().__init__(coordinator, camera_id, SensorEntityDescription(key=f"{label}_count"))
        self.label = label
        self._attr_translation_placeholders = {"label": label.replace("_", " ").capitalize()}

    @property
    def native_value(self) -> int | None:
        det = self.coordinator.detections.get(self.camera_id)
        return None if det is None else det.count(self.label)


class TimelapseSensor(CameraBridgeTimelapseEntity, SensorEntity):
    """A value of one timelapse."""

    entity_description: TimelapseSensorDescription

    @property
    def native_value(self) -> Any:
        tl = self.timelapse
        return None if tl is None else self.entity_description.value_fn(tl)


class InferenceTimeSensor(CameraBridgeCameraEntity, SensorEntity):
    """The detector's last run on this camera, milliseconds (``stats.inference_ms`` of
    ``GET /api/cameras/{id}/detection``, refreshed with the statistics)."""

    @property
    def native_value(self) -> float | None:
        det = self.coordinator.detections.get(self.camera_id)
        return None if det is None else det.stats.get("inference_ms")
