"""Image entities: each timelapse's latest frame (the bridge's ``thumbnail.jpg`` of it), and per
camera with detection the best snapshot of each tracked label
(``/api/cameras/{id}/detection/{label}.jpg``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from .api import CameraBridgeApiError
from .entity import CameraBridgeCameraEntity, CameraBridgeTimelapseEntity, add_entities

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback
    from homeassistant.helpers.update_coordinator import CoordinatorEntity

    from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

    #: to type checkers the mixin is the coordinator entity it is mixed into (its methods call
    #: that entity's ``super()`` and read its coordinator); at run time it is a plain class
    _MixedInto: TypeAlias = CoordinatorEntity[CameraBridgeCoordinator]
else:
    _MixedInto = object

#: entities only read the coordinator's data (pushed or polled once for all): no limit
PARALLEL_UPDATES = 0

LATEST_FRAME = ImageEntityDescription(key="latest_frame", translation_key="latest_frame")


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add a latest-frame image per timelapse."""
    coordinator = entry.runtime_data
    add_entities(entry, async_add_entities, "timelapses", lambda tl_id: [TimelapseFrame(hass, coordinator, tl_id)])
    add_entities(
        entry,
        async_add_entities,
        "cameras",
        lambda cam_id: [
            BestSnapshot(hass, coordinator, cam_id, label)
            for label in coordinator.data.cameras[cam_id].detection_labels
        ],
    )


class _BridgeImage(_MixedInto):
    """An image the bridge serves at :meth:`_path`; ``image_last_updated`` follows
    :meth:`_last_updated` on every coordinator update. Mixed in first, before the coordinator
    entity and ``ImageEntity``, so only these methods come ahead of theirs."""

    _attr_content_type = "image/jpeg"

    def _path(self) -> str:
        raise NotImplementedError

    def _last_updated(self) -> datetime | None:
        raise NotImplementedError

    @callback
    def _handle_coordinator_update(self) -> None:
        self._attr_image_last_updated = self._last_updated()
        super()._handle_coordinator_update()

    async def async_image(self) -> bytes | None:
        """The JPEG, None while the bridge has none (or cannot be reached)."""
        try:
            return await self.coordinator.client.fetch(self._path())
        except CameraBridgeApiError:
            return None


class TimelapseFrame(_BridgeImage, CameraBridgeTimelapseEntity, ImageEntity):
    """The timelapse's latest kept frame; ``image_last_updated`` is when it was captured."""

    def __init__(self, hass: HomeAssistant, coordinator: CameraBridgeCoordinator, timelapse_id: str) -> None:
        CameraBridgeTimelapseEntity.__init__(self, coordinator, timelapse_id, LATEST_FRAME)
        ImageEntity.__init__(self, hass)
        self._attr_image_last_updated = self._last_updated()

    def _last_updated(self) -> datetime | None:
        tl = self.timelapse
        return dt_util.parse_datetime(tl.last_capture_at) if tl and tl.last_capture_at else None

    def _path(self) -> str:
        return f"/api/timelapses/{self.timelapse_id}/thumbnail.jpg"


class BestSnapshot(_BridgeImage, CameraBridgeCameraEntity, ImageEntity):
    """The best detection snapshot of one label on one camera (boxes drawn); updated when a
    detection event says a new one is available."""

    _attr_translation_key = "best_snapshot"

    def __init__(self, hass: HomeAssistant, coordinator: CameraBridgeCoordinator, camera_id: str, label: str) -> None:
        CameraBridgeCameraEntity.__init__(
            self, coordinator, camera_id, ImageEntityDescription(key=f"{label}_best_snapshot")
        )
        ImageEntity.__init__(self, hass)
        self.label = label
        self._attr_translation_placeholders = {"label": label.replace("_", " ").capitalize()}
        self._attr_image_last_updated = self._last_updated()

    def _last_updated(self) -> datetime | None:
        det = self.coordinator.detections.get(self.camera_id)
        when = det.snapshot_at.get(self.label) if det is not None else None
        return dt_util.utc_from_timestamp(when) if when else None

    def _path(self) -> str:
        return f"/api/cameras/{self.camera_id}/detection/{self.label}.jpg"
