"""Base entities: one HA device for the bridge, one per camera linked to it (``via_device``).

Unique ids are ``{bridge_id}_bridge_{key}`` and ``{bridge_id}_{camera_id}_{key}``: the bridge id
is persistent (made at the bridge's first start), so entities survive a change of host or port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Camera, Timelapse
from .const import DOMAIN, KIND_MODELS, MANUFACTURER
from .coordinator import CameraBridgeCoordinator

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback


def bridge_device_info(coordinator: CameraBridgeCoordinator, title: str) -> DeviceInfo:
    """The bridge's device (identifier: the bridge id)."""
    info = coordinator.data.info
    return DeviceInfo(identifiers={(DOMAIN, info.id)}, name=title, manufacturer=MANUFACTURER,
                      model="Camera Bridge", sw_version=info.version,
                      configuration_url=f"{coordinator.client.base_url}/api/openapi.json")


class CameraBridgeEntity(CoordinatorEntity[CameraBridgeCoordinator]):
    """An entity of the bridge device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CameraBridgeCoordinator, description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        bridge_id = coordinator.data.info.id
        self._attr_unique_id = f"{bridge_id}_bridge_{description.key}"
        title = coordinator.config_entry.title if coordinator.config_entry else "Camera Bridge"
        self._attr_device_info = bridge_device_info(coordinator, title)


class CameraBridgeCameraEntity(CoordinatorEntity[CameraBridgeCoordinator]):
    """An entity of one camera's device; unavailable when the camera is gone from the bridge."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str,
                 description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.camera_id = camera_id
        bridge_id = coordinator.data.info.id
        self._attr_unique_id = f"{bridge_id}_{camera_id}_{description.key}"
        cam = coordinator.data.cameras[camera_id]
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{bridge_id}_{camera_id}")}, name=cam.name,
            manufacturer=MANUFACTURER, model=KIND_MODELS.get(cam.kind, "Camera"),
            via_device=(DOMAIN, bridge_id))

    @property
    def camera(self) -> Camera | None:
        """The camera's current data, None once the bridge no longer has it."""
        return self.coordinator.data.cameras.get(self.camera_id)

    @property
    def available(self) -> bool:
        return super().available and self.camera is not None


def detect_labels(cam: Camera) -> list[str]:
    """The labels a camera's detection tracks (empty without detection)."""
    return cam.detection_labels


def add_camera_entities(coordinator: CameraBridgeCoordinator, entry: ConfigEntry,
                        async_add_entities: AddEntitiesCallback,
                        factory: Callable[[str], list[Entity]]) -> None:
    """Add ``factory(camera_id)`` for every camera now, and for each camera the bridge gains
    later (cameras added through its API appear without a reload)."""
    known: set[str] = set()

    @callback
    def _add_new() -> None:
        known.intersection_update(coordinator.data.cameras)  # a removed camera's device is removed
        new = [cam_id for cam_id in coordinator.data.cameras if cam_id not in known]
        known.update(new)
        entities = [entity for cam_id in new for entity in factory(cam_id)]
        if entities:
            async_add_entities(entities)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))


class CameraBridgeTimelapseEntity(CoordinatorEntity[CameraBridgeCoordinator]):
    """An entity of one timelapse's device (linked to the bridge); unavailable once the bridge
    no longer has the timelapse."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CameraBridgeCoordinator, timelapse_id: str,
                 description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.timelapse_id = timelapse_id
        bridge_id = coordinator.data.info.id
        self._attr_unique_id = f"{bridge_id}_timelapse_{timelapse_id}_{description.key}"
        tl = coordinator.data.timelapses[timelapse_id]
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, timelapse_device_id(bridge_id, timelapse_id))}, name=tl.name,
            manufacturer=MANUFACTURER, model="Timelapse", via_device=(DOMAIN, bridge_id))

    @property
    def timelapse(self) -> Timelapse | None:
        """The timelapse's current data, None once the bridge no longer has it."""
        return self.coordinator.data.timelapses.get(self.timelapse_id)

    @property
    def available(self) -> bool:
        return super().available and self.timelapse is not None


def timelapse_device_id(bridge_id: str, timelapse_id: str) -> str:
    """The device identifier of a timelapse (``{bridge_id}_timelapse_{id}``)."""
    return f"{bridge_id}_timelapse_{timelapse_id}"


def add_timelapse_entities(coordinator: CameraBridgeCoordinator, entry: ConfigEntry,
                           async_add_entities: AddEntitiesCallback,
                           factory: Callable[[str], list[Entity]]) -> None:
    """Add ``factory(timelapse_id)`` for every timelapse now and for each one created later."""
    known: set[str] = set()

    @callback
    def _add_new() -> None:
        known.intersection_update(coordinator.data.timelapses)
        new = [tl_id for tl_id in coordinator.data.timelapses if tl_id not in known]
        known.update(new)
        entities = [entity for tl_id in new for entity in factory(tl_id)]
        if entities:
            async_add_entities(entities)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))
