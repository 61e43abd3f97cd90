"""Camera entities: stills from the bridge's snapshot endpoint; live view from the bridge's RTSP
restream (``stream_urls.rtsp``, MediaMTX) when it has one and the ``live_view`` option is
``rtsp``, so Home Assistant's stream/WebRTC player works; stills only otherwise."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.const import CONF_HOST
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_aiohttp_proxy_stream
from homeassistant.helpers.entity import EntityDescription

from .api import CameraBridgeApiError, CameraBridgeResponseError
from .const import CONF_LIVE_VIEW, CONF_STILL_WIDTH, DOMAIN, LIVE_VIEW_RTSP
from .entity import CameraBridgeCameraEntity, add_entities, detect_labels
from .errors import bridge_errors

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .coordinator import CameraBridgeConfigEntry, CameraBridgeCoordinator

_LOGGER = logging.getLogger(__name__)

#: seconds without a frame before the proxied MJPEG stream ends (the bridge sends one per snapshot)
MJPEG_TIMEOUT = 60
CAMERA = EntityDescription(key="camera", name=None)  # the camera device's main entity
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}
#: no limit: entities read the coordinator's data, and the bridge serves concurrent actions
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant, entry: CameraBridgeConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add one camera entity per bridge camera."""
    coordinator = entry.runtime_data
    add_entities(entry, async_add_entities, "cameras", lambda cam_id: [BridgeCamera(coordinator, cam_id, entry)])


def reachable_url(url: str, bridge_host: str) -> str:
    """``url`` with a loopback or wildcard host replaced by the bridge's host (the bridge reports
    URLs as it sees them; Home Assistant may run elsewhere)."""
    parts = urlsplit(url)
    if (parts.hostname or "") not in _LOOPBACK:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    host = f"[{bridge_host}]" if ":" in bridge_host else bridge_host
    hostport = host + (f":{parts.port}" if parts.port else "")
    netloc[-1] = hostport
    return urlunsplit(parts._replace(netloc="@".join(netloc)))


class BridgeCamera(CameraBridgeCameraEntity, Camera):
    """One bridge camera (the camera device's main entity)."""

    def __init__(self, coordinator: CameraBridgeCoordinator, camera_id: str, entry: CameraBridgeConfigEntry) -> None:
        CameraBridgeCameraEntity.__init__(self, coordinator, camera_id, CAMERA)
        Camera.__init__(self)
        self._entry = entry

    @property
    def _rtsp_url(self) -> str | None:
        cam = self.camera
        if cam is None or self._entry.options.get(CONF_LIVE_VIEW, LIVE_VIEW_RTSP) != LIVE_VIEW_RTSP:
            return None
        url = cam.stream_urls.get("rtsp")
        return reachable_url(url, self._entry.data[CONF_HOST]) if url else None

    @property
    def supported_features(self) -> CameraEntityFeature:
        on_off = CameraEntityFeature.ON_OFF
        return on_off | CameraEntityFeature.STREAM if self._rtsp_url and self.is_on else on_off

    @property
    def is_on(self) -> bool:
        """Whether the camera is switched on on the bridge (off: state ``disabled``, no
        connection, no new images); pushed by ``camera.enabled``/``camera.status`` events."""
        cam = self.camera
        return cam is not None and cam.enabled

    async def async_turn_on(self) -> None:
        """Switch the camera on on the bridge (``PUT /api/cameras/{id}/enabled``)."""
        await self._switch(True)

    async def async_turn_off(self) -> None:
        """Switch the camera off on the bridge: it stops connecting (kept across restarts)."""
        await self._switch(False)

    @bridge_errors
    async def _switch(self, enabled: bool) -> None:
        self.coordinator.set_camera(await self.coordinator.client.set_camera_enabled(self.camera_id, enabled))

    @property
    def motion_detection_enabled(self) -> bool:
        """Whether the bridge's detection runs on this camera now (its run-time switch)."""
        cam = self.camera
        if cam is None or not detect_labels(cam):
            return False
        det = self.coordinator.detections.get(self.camera_id)
        return det is None or det.enabled is not False

    async def async_enable_motion_detection(self) -> None:
        """Switch the bridge's detection on for this camera."""
        await self._switch_detection(True)

    async def async_disable_motion_detection(self) -> None:
        """Switch the bridge's detection off for this camera."""
        await self._switch_detection(False)

    async def _switch_detection(self, enabled: bool) -> None:
        cam = self.camera
        if cam is None or not detect_labels(cam):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_detection",
                translation_placeholders={"entity_id": self.entity_id},
            )
        from .switch import switch_detection

        await switch_detection(self.coordinator, self.camera_id, enabled)

    @property
    def is_streaming(self) -> bool:
        cam = self.camera
        return cam is not None and cam.state == "streaming"

    async def stream_source(self) -> str | None:
        return self._rtsp_url

    async def handle_async_mjpeg_stream(self, request: web.Request) -> web.StreamResponse | None:
        """The bridge's own MJPEG stream (a frame per snapshot), proxied: Home Assistant does not
        poll stills for the live view of a camera without a restream."""
        try:
            async with self.coordinator.client.open(f"/api/cameras/{self.camera_id}/mjpeg") as upstream:
                if upstream.status != 200:
                    return await super().handle_async_mjpeg_stream(request)
                return await async_aiohttp_proxy_stream(
                    self.hass, request, upstream.content, upstream.headers.get("Content-Type"), timeout=MJPEG_TIMEOUT
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            _LOGGER.debug("camera %s: MJPEG stream failed: %s", self.camera_id, err)
            return await super().handle_async_mjpeg_stream(request)

    async def async_camera_image(self, width: int | None = None, height: int | None = None) -> bytes | None:
        """The latest snapshot, downscaled by the bridge to ``width`` (or the ``still_width``
        option) pixels; None while the camera has none."""
        width = width or self._entry.options.get(CONF_STILL_WIDTH) or None
        try:
            return await self.coordinator.client.snapshot(self.camera_id, width)
        except CameraBridgeResponseError as err:
            _LOGGER.debug("camera %s: no image (%s)", self.camera_id, err)
            return None
        except CameraBridgeApiError as err:
            _LOGGER.debug("camera %s: image not fetched: %s", self.camera_id, err)
            return None
