"""Base entities: one HA device for the bridge, one per camera and per timelapse linked to it
(``via_device``, see compat.py), and :func:`add_entities`, which adds the entities of every
camera or timelapse the bridge has now and of each one it gains later.

Unique ids are ``{bridge_id}_bridge_{key}``, ``{bridge_id}_{camera_id}_{key}`` and
``{bridge_id}_timelapse_{timelapse_id}_{key}``: the bridge id is persistent (made at the bridge's
first start), so entities survive a change of host or port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Camera, Timelapse
from .compat import via_device
from .const import DOMAIN, KIND_MODELS, MANUFACTURER
from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

if TYPE_CHECKING:
    from homeassistant.helpers.entity_platform import AddEntitiesCallback


def bridge_device_info(coordinator: CameraBridgeCoordinator, title: str) -> DeviceInfo:
    """The bridge's device (identifier: the bridge id)."""
    info = coordinator.data.info
    return DeviceInfo(
        identifiers={(DOMAIN, info.id)},
        name=title,
        manufacturer=MANUFACTURER,
        model="Camera Bridge",
        sw_version=info.version,
        configuration_url=f"{coordinator.client.base_url}/api/openapi.json",
    )


@callback
def async_register_bridge_device(hass: HomeAssistant, entry: CameraBridgeConfigEntry) -> None:
    """Register the bridge's device (at setup, before the platforms link camera and timelapse
    devices to it) and keep it as ``coordinator.bridge_device``."""
    coordinator = entry.runtime_data
    coordinator.bridge_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **bridge_device_info(coordinator, entry.title)
    )


def _child_device_info(coordinator: CameraBridgeCoordinator, identifier: str, name: str, model: str) -> DeviceInfo:
    info = DeviceInfo(identifiers={(DOMAIN, identifier)}, name=name, manufacturer=MANUFACTURER, model=model)
    assert coordinator.bridge_device is not None, "the bridge device is registered at setup"
    info.update(via_device(coordinator.bridge_device))
    return info


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

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str, description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.camera_id = camera_id
        bridge_id = coordinator.data.info.id
        self._attr_unique_id = f"{bridge_id}_{camera_id}_{description.key}"
        cam = coordinator.data.cameras[camera_id]
        self._attr_device_info = _child_device_info(
            coordinator, camera_device_id(bridge_id, camera_id), cam.name, KIND_MODELS.get(cam.kind, "Camera")
        )

    @property
    def camera(self) -> Camera | None:
        """The camera's current data, None once the bridge no longer has it."""
        return self.coordinator.data.cameras.get(self.camera_id)

    @property
    def available(self) -> bool:
        return super().available and self.camera is not None


class CameraBridgeTimelapseEntity(CoordinatorEntity[CameraBridgeCoordinator]):
    """An entity of one timelapse's device (linked to the bridge); unavailable once the bridge
    no longer has the timelapse."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CameraBridgeCoordinator, timelapse_id: str, description: EntityDescription) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.timelapse_id = timelapse_id
        bridge_id = coordinator.data.info.id
        self._attr_unique_id = f"{bridge_id}_timelapse_{timelapse_id}_{description.key}"
        tl = coordinator.data.timelapses[timelapse_id]
        self._attr_device_info = _child_device_info(
            coordinator, timelapse_device_id(bridge_id, timelapse_id), tl.name, "Timelapse"
        )

    @property
    def timelapse(self) -> Timelapse | None:
        """The timelapse's current data, None once the bridge no longer has it."""
        return self.coordinator.data.timelapses.get(self.timelapse_id)

    @property
    def available(self) -> bool:
        return super().available and self.timelapse is not None


def camera_device_id(bridge_id: str, camera_id: str) -> str:
    """The device identifier of a camera (``{bridge_id}_{id}``)."""
    return f"{bridge_id}_{camera_id}"


def timelapse_device_id(bridge_id: str, timelapse_id: str) -> str:
    """The device identifier of a timelapse (``{bridge_id}_timelapse_{id}``)."""
    return f"{bridge_id}_timelapse_{timelapse_id}"


def detect_labels(cam: Camera) -> list[str]:
    """The labels a camera's detection tracks (empty without detection)."""
    return cam.detection_labels


def add_entities(
    entry: CameraBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
    kind: Literal["cameras", "timelapses"],
    factory: Callable[[str], Iterable[Entity]],
) -> None:
    """Add ``factory(id)`` for every camera (or timelapse) of the bridge now, and for each one
    it gains later (added through its API: no reload). One removed and added again gets its
    entities again (its device was removed with it)."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def _add_new() -> None:
        current = getattr(coordinator.data, kind)
        known.intersection_update(current)
        new = [obj_id for obj_id in current if obj_id not in known]
        known.update(new)
        entities = [entity for obj_id in new for entity in factory(obj_id)]
        if entities:
            async_add_entities(entities)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))
