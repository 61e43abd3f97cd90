"""Snapshots: JPEG encoding (OpenCV, off the event loop) and the per-camera snapshot worker."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2

from .camera import Camera
from .capture import Frame, Need
from .config import SnapshotConfig
from .service import Service

_LOGGER = logging.getLogger(__name__)

#: one thread encodes for every camera: its conversion buffers are reused instead of one copy
#: per pool thread (measured: 8 x 1080p cameras 246 -> 181 MiB), and camera readers and API
#: work never wait behind JPEG encodes in the default executor
ENCODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jpeg-encode")

#: a keyframe this close to the interval counts as due (GOP timing jitters by a few ms)
INTERVAL_TOLERANCE = 0.9


@dataclass(frozen=True)
class Snapshot:
    """A published JPEG: ``jpeg`` bytes, ``width``/``height`` pixels, ``taken_at`` seconds since
    the epoch (arrival of the frame)."""

    jpeg: bytes
    width: int
    height: int
    taken_at: float


def encode(frame: Frame, config: SnapshotConfig) -> Snapshot:
    """Encode ``frame`` as a JPEG of quality ``config.quality``, downscaled to ``max_width``.

    An MJPEG frame that needs no downscale is returned as the camera's own bytes (no decode, no
    re-encode). Blocking: run in an executor. Raises ``ValueError`` when the frame cannot be
    decoded or encoded.
    """
    if frame.jpeg is not None and (not config.max_width or frame.width <= config.max_width):
        return Snapshot(frame.jpeg, frame.width, frame.height, frame.time)
    image = frame.bgr(config.max_width)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, config.quality])
    if not ok:
        raise ValueError("JPEG encode failed")
    return Snapshot(buf.tobytes(), image.shape[1], image.shape[0], frame.time)


class SnapshotWorker(Service):
    """Turns a camera's keyframes into JPEG snapshots every ``interval`` seconds.

    Subscribes keyframes only (``interval: 0`` = every keyframe); :meth:`request` publishes the
    next keyframe whatever the interval (so within one GOP). Each new :class:`Snapshot` is kept
    in :attr:`latest` and passed to ``on_snapshot`` on the event loop. Async context manager;
    its loop runs as task ``camera[<id>].snapshot``.
    """

    def __init__(self, camera: Camera, config: SnapshotConfig,
                 on_snapshot: Callable[[str, Snapshot], None]) -> None:
        super().__init__()
        self._camera = camera
        self._config = config
        self._on_snapshot = on_snapshot
        self._requested = False
        self._last = float("-inf")
        self._sub = None
        self.latest: Snapshot | None = None
        self._fresh = asyncio.Event()
        #: snapshots made (and handed to the publishers) and their JPEG bytes, for metrics
        self.count = 0
        self.total_bytes = 0

    def request(self) -> None:
        """Publish a fresh snapshot from the next keyframe."""
        self._requested = True
        if self._sub is not None:
            self._sub.force_next()

    async def _start(self) -> None:
        interval = self._config.interval
        self._sub = self._camera.subscribe(
            Need(keyframes_only=True, max_fps=1 / interval if interval > 0 else None)
        )

    async def next_snapshot(self) -> Snapshot:
        """Wait for the next new snapshot and return it."""
        await self._fresh.wait()
        assert self.latest is not None
        return self.latest

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {f"camera[{self._camera.id}].snapshot": self._run()}

    async def _finish(self) -> None:
        if self._sub is not None:
            self._camera.unsubscribe(self._sub)

    async def _run(self) -> None:
        assert self._sub is not None
        loop = asyncio.get_running_loop()
        warned = False
        while True:
            frame = await self._sub.next()
            due = frame.monotonic - self._last >= self._config.interval * INTERVAL_TOLERANCE
            if not (due or self._requested):
                continue
            self._requested = False
            try:
                snap = await loop.run_in_executor(ENCODER, encode, frame, self._config)
            except ValueError as err:
                _LOGGER.log(logging.DEBUG if warned else logging.WARNING,
                            "camera %s: snapshot failed: %s", self._camera.id, err)
                warned = True
                continue
            warned = False
            self._last = frame.monotonic
            self.latest = snap
            self.count += 1
            self.total_bytes += len(snap.jpeg)
            fresh, self._fresh = self._fresh, asyncio.Event()
            fresh.set()
            _LOGGER.debug("camera %s: snapshot %d bytes %dx%d (%.0f ms after frame)",
                          self._camera.id, len(snap.jpeg), snap.width, snap.height,
                          (time.time() - frame.time) * 1000)
            self._on_snapshot(self._camera.id, snap)
