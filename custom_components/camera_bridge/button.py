"""Buttons: take a snapshot now (per camera)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription

from .api import CameraBridgeClient
from .entity import CameraBridgeCameraEntity, CameraBridgeTimelapseEntity, add_entities
from .errors import bridge_errors

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeConfigEntry

#: no limit: entities read the coordinator's data, and the bridge serves concurrent actions
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CameraButtonDescription(ButtonEntityDescription):
    """A camera button: ``press_fn(client, camera_id)`` does it."""

    press_fn: Callable[[CameraBridgeClient, str], Awaitable[None]]


CAMERA_BUTTONS: tuple[CameraButtonDescription, ...] = (
    CameraButtonDescription(
        key="snapshot_now", translation_key="snapshot_now", press_fn=lambda client, cam_id: client.snapshot_now(cam_id)
    ),
)


RENDER = ButtonEntityDescription(key="render", translation_key="render")


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add each camera's buttons."""
    coordinator = entry.runtime_data
    add_entities(
        entry,
        async_add_entities,
        "cameras",
        lambda cam_id: [CameraButton(coordinator, cam_id, d) for d in CAMERA_BUTTONS],
    )
    add_entities(entry, async_add_entities, "timelapses", lambda tl_id: [RenderButton(coordinator, tl_id, RENDER)])


class CameraButton(CameraBridgeCameraEntity, ButtonEntity):
    """An action on one camera."""

    entity_description: CameraButtonDescription

    @bridge_errors
    async def async_press(self) -> None:
        await self.entity_description.press_fn(self.coordinator.client, self.camera_id)


class RenderButton(CameraBridgeTimelapseEntity, ButtonEntity):
    """Render the timelapse's frames into a video now (the bridge refuses while it renders or
    without frames)."""

    @bridge_errors
    async def async_press(self) -> None:
        self.coordinator.set_timelapse(await self.coordinator.client.timelapse_action(self.timelapse_id, "render"))
