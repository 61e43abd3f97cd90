"""Buttons: take a snapshot now (per camera)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.exceptions import HomeAssistantError

from .api import CameraBridgeApiError, CameraBridgeClient
from .const import DOMAIN
from .entity import CameraBridgeCameraEntity, CameraBridgeTimelapseEntity, add_camera_entities, add_timelapse_entities

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeCoordinator


@dataclass(frozen=True, kw_only=True)
class CameraButtonDescription(ButtonEntityDescription):
    """A camera button: ``press_fn(client, camera_id)`` does it."""

    press_fn: Callable[[CameraBridgeClient, str], Awaitable[None]]


CAMERA_BUTTONS: tuple[CameraButtonDescription, ...] = (
    CameraButtonDescription(key="snapshot_now", translation_key="snapshot_now",
                            press_fn=lambda client, cam_id: client.snapshot_now(cam_id)),
)


RENDER = ButtonEntityDescription(key="render", translation_key="render")


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry,
                            async_add_entities: AddEntitiesCallback) -> None:
    """Add each camera's buttons."""
    coordinator: CameraBridgeCoordinator = entry.runtime_data
    add_camera_entities(coordinator, entry, async_add_entities,
                        lambda cam_id: [CameraButton(coordinator, cam_id, d) for d in CAMERA_BUTTONS])
    add_timelapse_entities(coordinator, entry, async_add_entities,
                           lambda tl_id: [RenderButton(coordinator, tl_id, RENDER)])


class CameraButton(CameraBridgeCameraEntity, ButtonEntity):
    """An action on one camera."""

    entity_description: CameraButtonDescription

    async def async_press(self) -> None:
        try:
            await self.entity_description.press_fn(self.coordinator.client, self.camera_id)
        except CameraBridgeApiError as err:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="bridge_error",
                                     translation_placeholders={"error": str(err)}) from err


class RenderButton(CameraBridgeTimelapseEntity, ButtonEntity):
    """Render the timelapse's frames into a video now (the bridge refuses while it renders or
    without frames)."""

    async def async_press(self) -> None:
        try:
            timelapse = await self.coordinator.client.timelapse_action(self.timelapse_id, "render")
        except CameraBridgeApiError as err:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="bridge_error",
                                     translation_placeholders={"error": str(err)}) from err
        self.coordinator.set_timelapse(timelapse)
