"""Snapshots: JPEG encoding (from the decoder's YUV planes, in encoder threads off the event loop)
and the per-camera snapshot worker."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .camera import Camera
from .capture import Frame, Need, Subscription, picture
from .config import SnapshotConfig
from .service import Service

_LOGGER = logging.getLogger(__name__)


class EncoderPool(Executor):
    """The encoder threads shared by every camera: keyframe decode, scaling, JPEG encode.

    A fixed, small pool (default :func:`default_threads`) rather than the default executor: its
    threads' conversion buffers are reused (every thread that ever encoded keeps its own copy of
    the 1080p working buffers in its malloc arena: one thread per camera would cost ~8 MiB each),
    and camera readers and API work never wait behind JPEG encodes. Each camera's snapshot worker
    has at most one encode in flight, so a camera's snapshots are published in order whatever the
    number of threads. :meth:`configure` changes the size (``encoder_threads``); work already
    submitted finishes on the old threads.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jpeg-encode")

    def configure(self, threads: int | None) -> None:
        """Use ``threads`` encoder threads from now on (None: :func:`default_threads`)."""
        threads = threads or default_threads()
        if threads != self.threads:
            old, self.threads = self._pool, threads
            self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jpeg-encode")
            old.shutdown(wait=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` on an encoder thread."""
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads (as ``ThreadPoolExecutor.shutdown``)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def default_threads() -> int:
    """Encoder threads by default: one per core the process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


#: the process's encoder threads (snapshots, timelapse frames); sized by ``encoder_threads``
ENCODER = EncoderPool(default_threads())

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

    Encoded from the frame's YUV planes (no BGR; see :mod:`bridge.capture.picture`). An MJPEG
    frame that needs no downscale is returned as the camera's own bytes (no decode, no
    re-encode). Blocking: run in an executor. Raises ``ValueError`` when the frame cannot be
    decoded or encoded.
    """
    if frame.passthrough is not None and (not config.max_width or frame.width <= config.max_width):
        return Snapshot(frame.passthrough, frame.width, frame.height, frame.time)
    planes = frame.yuv420(config.max_width)
    jpeg = picture.encode_planes(planes, config.quality)
    return Snapshot(jpeg, planes[0].shape[1], planes[0].shape[0], frame.time)


class SnapshotWorker(Service):
    """Turns a camera's keyframes into JPEG snapshots every ``interval`` seconds.

    Subscribes keyframes only (``interval: 0`` = every keyframe); :meth:`request` publishes the
    next keyframe whatever the interval (so within one GOP). Each new :class:`Snapshot` is kept
    in :attr:`latest` and passed to ``on_snapshot`` on the event loop. Async context manager;
    its loop runs as task ``camera[<id>].snapshot``.
    """

    def __init__(self, camera: Camera, config: SnapshotConfig, on_snapshot: Callable[[str, Snapshot], None]) -> None:
        super().__init__()
        self._camera = camera
        self._config = config
        self._on_snapshot = on_snapshot
        self._requested = False
        self._last = float("-inf")
        self._sub: Subscription | None = None
        self.latest: Snapshot | None = None
        self._fresh = asyncio.Event()
        self._warned = False  # a failed snapshot was logged at WARNING; the next ones at DEBUG
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
            Need(keyframes_only=True, max_fps=1 / interval if interval > 0 else None), "snapshot"
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
        while True:
            # taken by a call of its own: the frame (once decoded, a 1080p picture of ~3 MiB)
            # is released when the call returns, not held by this loop until the next keyframe
            await self._take(await self._sub.next())

    async def _take(self, frame: Frame) -> None:
        """Make, keep and hand on the snapshot of ``frame`` if it is due or requested."""
        due = frame.monotonic - self._last >= self._config.interval * INTERVAL_TOLERANCE
        if not (due or self._requested):
            return
        self._requested = False
        try:
            snap = await asyncio.get_running_loop().run_in_executor(ENCODER, encode, frame, self._config)
        except ValueError as err:
            _LOGGER.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "camera %s: snapshot failed: %s",
                self._camera.id,
                err,
            )
            self._warned = True
            return
        self._warned = False
        self._last = frame.monotonic
        self.latest = snap
        self.count += 1
        self.total_bytes += len(snap.jpeg)
        fresh, self._fresh = self._fresh, asyncio.Event()
        fresh.set()
        _LOGGER.debug(
            "camera %s: snapshot %d bytes %dx%d (%.0f ms after frame)",
            self._camera.id,
            len(snap.jpeg),
            snap.width,
            snap.height,
            (time.time() - frame.time) * 1000,
        )
        self._on_snapshot(self._camera.id, snap)
