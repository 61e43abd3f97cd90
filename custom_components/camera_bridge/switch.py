"""Switches: the bridge's own Home Assistant MQTT discovery (a configuration entity)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory

from .detection import Detection
from .entity import (
    CameraBridgeCameraEntity,
    CameraBridgeEntity,
    CameraBridgeTimelapseEntity,
    add_entities,
)
from .errors import bridge_errors

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

#: no limit: entities read the coordinator's data, and the bridge serves concurrent actions
PARALLEL_UPDATES = 0

RECORDING = SwitchEntityDescription(key="recording", translation_key="recording")
DETECTION = SwitchEntityDescription(key="detection", translation_key="detection")
RUNNING = SwitchEntityDescription(key="running", translation_key="timelapse_running")
#: timelapse states in which it captures (degraded and error are conditions of running)
RUNNING_STATES = ("running", "degraded", "error")

MQTT_DISCOVERY = SwitchEntityDescription(
    key="mqtt_discovery", translation_key="mqtt_discovery", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the MQTT discovery switch when the bridge's configuration allows discovery."""
    coordinator = entry.runtime_data
    if coordinator.data.info.discovery_configured:
        async_add_entities([MqttDiscoverySwitch(coordinator, MQTT_DISCOVERY)])
    add_entities(entry, async_add_entities, "timelapses", lambda tl_id: [TimelapseRunning(coordinator, tl_id, RUNNING)])

    def _camera(cam_id: str) -> list[SwitchEntity]:
        cam = coordinator.data.cameras[cam_id]
        entities: list[SwitchEntity] = []
        if isinstance(cam.raw.get("mediamtx"), dict):
            entities.append(RecordingSwitch(coordinator, cam_id, RECORDING))
        if cam.detection_labels:
            entities.append(DetectionSwitch(coordinator, cam_id, DETECTION))
        return entities

    add_entities(entry, async_add_entities, "cameras", _camera)


class MqttDiscoverySwitch(CameraBridgeEntity, SwitchEntity):
    """On while the bridge publishes Home Assistant MQTT discovery: with this integration it
    should be off, or HA's MQTT integration shows every camera a second time."""

    @property
    def is_on(self) -> bool:
        return self.coordinator.data.info.discovery

    @bridge_errors
    async def _set(self, enabled: bool) -> None:
        info = await self.coordinator.client.set_discovery(enabled)
        self.coordinator.async_set_updated_data(replace(self.coordinator.data, info=info))

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._set(False)


class TimelapseRunning(CameraBridgeTimelapseEntity, SwitchEntity):
    """On while the timelapse captures. On: ``start`` (created) or ``resume`` (paused); off:
    ``pause``. A stopped or completed timelapse cannot run again (the bridge refuses)."""

    @property
    def is_on(self) -> bool | None:
        tl = self.timelapse
        return None if tl is None else tl.state in RUNNING_STATES

    @bridge_errors
    async def _act(self, action: str) -> None:
        self.coordinator.set_timelapse(await self.coordinator.client.timelapse_action(self.timelapse_id, action))

    async def async_turn_on(self, **kwargs: Any) -> None:
        tl = self.timelapse
        await self._act("resume" if tl is not None and tl.state == "paused" else "start")

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._act("pause")


class RecordingSwitch(CameraBridgeCameraEntity, SwitchEntity):
    """The camera's MediaMTX recording (``PUT /api/cameras/{id}/recording``, role admin)."""

    @property
    def is_on(self) -> bool | None:
        cam = self.camera
        media = cam.raw.get("mediamtx") if cam is not None else None
        return media.get("recording") if isinstance(media, dict) else None

    @bridge_errors
    async def _set(self, recording: bool) -> None:
        await self.coordinator.client.set_recording(self.camera_id, recording)
        cam = self.camera
        if cam is not None:
            media = {**(cam.raw.get("mediamtx") or {}), "recording": recording}
            data = self.coordinator.data
            self.coordinator.async_set_updated_data(
                replace(data, cameras={**data.cameras, self.camera_id: cam.with_status({"mediamtx": media})})
            )

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._set(False)


@bridge_errors
async def switch_detection(coordinator: CameraBridgeCoordinator, camera_id: str, enabled: bool) -> None:
    """``PUT /api/cameras/{id}/detection``, then take the answer (HomeAssistantError on failure)."""
    view = await coordinator.client.set_detection(camera_id, enabled)
    coordinator.detections[camera_id] = Detection.from_api(view, time.time())
    coordinator.async_update_listeners()


class DetectionSwitch(CameraBridgeCameraEntity, SwitchEntity):
    """The camera's detection, switched at run time (role operator; the bridge keeps the choice
    across restarts)."""

    @property
    def is_on(self) -> bool | None:
        det = self.coordinator.detections.get(self.camera_id)
        return None if det is None else det.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        await switch_detection(self.coordinator, self.camera_id, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await switch_detection(self.coordinator, self.camera_id, False)
