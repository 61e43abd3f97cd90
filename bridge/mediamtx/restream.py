"""Which source a camera's connection opens while MediaMTX runs: its restream or the camera.

* RTSP cameras, with ``read_via_mediamtx``: the restream while MediaMTX is up, so each camera
  has one connection (MediaMTX's); the camera directly while it is down.
* USB cameras, always with MediaMTX: a V4L2 device can be opened by one process at a time, and
  MediaMTX's ffmpeg publisher (``runOnInit``) needs it. While MediaMTX is up the bridge reads the
  restream and leaves the device to ffmpeg (not waiting for the path to be online: the path
  comes online only once the bridge has let go); while MediaMTX is down its ffmpeg is gone too,
  and the bridge opens the device itself, so snapshots go on.

The choice is made before every connection attempt (:attr:`bridge.camera.Camera.router`), and a
change of MediaMTX's health ends the current connection at once (``Camera.switch_source``).
To avoid flapping when MediaMTX comes and goes:

* away from the restream at once when MediaMTX becomes unavailable (that stream is dead);
* back to the restream only after MediaMTX answered :data:`HOLD_CHECKS` health checks in a row,
  its path for the camera is online, and the camera has not switched within the last
  :data:`DWELL_CHECKS` health intervals; so a MediaMTX that flaps costs each camera at most one
  switch back per dwell time, and the snapshots never stop (the direct connection carries them).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

from ..config import CameraConfig
from ..status import CameraState

if TYPE_CHECKING:
    from ..cameras import CameraSet
    from .service import MediamtxService

_LOGGER = logging.getLogger(__name__)

HOLD_CHECKS = 2  #: consecutive good health checks before cameras move to the restream
DWELL_CHECKS = 6  #: health intervals a camera stays on a source before moving back to the restream

MEDIAMTX, DIRECT = "mediamtx", "direct"


class Restream:
    """Routes a bridge's cameras through MediaMTX when it is healthy (RTSP ones with
    ``read_via_mediamtx``, USB ones always)."""

    def __init__(self, service: MediamtxService, cameras: CameraSet) -> None:
        self._service = service
        self._cameras = cameras
        self._via: dict[str, str] = {}
        self._switched_at: dict[str, float] = {}
        self._streak = 0
        self._last_check = 0
        self.switches = 0  #: source switches asked for (for tests and metrics)
        service.add_listener(self._on_change)

    def via(self, cam_id: str) -> str:
        """``mediamtx`` or ``direct``: where the camera's current connection reads from."""
        return self._via.get(cam_id, DIRECT)

    def routed(self, config: CameraConfig) -> bool:
        """Whether camera ``config`` is read through MediaMTX when it is up."""
        return config.kind == "usb" or (config.kind == "rtsp" and self._service.config.read_via_mediamtx)

    def _ready(self, config: CameraConfig) -> bool:
        service = self._service
        if not (service.available and self._streak >= HOLD_CHECKS and self.routed(config)):
            return False
        if config.id not in service.owned:
            return False  # not (yet) the bridge's path: a foreign one of that name is not read
        stats = service.paths.get(config.id)
        return config.kind == "usb" or (stats is not None and stats.online)

    def route(self, config: CameraConfig) -> CameraConfig:
        """The config a connection of camera ``config.id`` opens (a Camera router)."""
        if not self._ready(config):
            self._via[config.id] = DIRECT
            return config
        self._via[config.id] = MEDIAMTX
        return dataclasses.replace(
            config, url=f"{self._service.config.rtsp_url}/{config.id}", device=None, transport="tcp"
        )

    def _on_change(self) -> None:
        service = self._service
        if service.checks == self._last_check:
            return  # not a health check (a recording switch)
        self._last_check = service.checks
        self._streak = self._streak + 1 if service.available else 0
        dwell = DWELL_CHECKS * service.config.health_interval
        now = time.monotonic()
        for cam_id, camera in list(self._cameras.cameras.items()):
            if camera.state in (CameraState.OFFLINE, CameraState.DISABLED):
                continue
            restreamed = camera.stream_for("restream").stream_config
            if not self.routed(restreamed) or cam_id not in self._via:
                continue
            current = self._via[cam_id]
            if current == MEDIAMTX and not service.available:
                why = "MediaMTX unavailable: reading the camera directly"
            elif current == DIRECT and self._ready(restreamed) and now - self._switched_at.get(cam_id, -dwell) >= dwell:
                why = "MediaMTX available: reading its restream"
            else:
                continue
            _LOGGER.info("camera %s: %s", cam_id, why)
            self._switched_at[cam_id] = now
            self.switches += 1
            camera.switch_source()
