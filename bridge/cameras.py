"""The camera set: every running camera with its snapshot worker and detection stage, each on
its own exit stack, so adding, replacing, switching or removing one camera never touches another.

Changes are serialised by one lock and announced on the event bus (``CameraAdded``,
``CameraRemoved``, ``CameraEnabled``, ``CameraStatusChanged``, ``SnapshotTaken``,
``DetectionUpdated`` ...); the set never knows who listens (MQTT, the API, MediaMTX).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import AsyncExitStack
from pathlib import Path

from .camera import Camera, Router
from .config import CameraConfig
from .core.errors import Conflict, NotFound, NotSaved
from .core.events import (
    CameraAdded,
    CameraEnabled,
    CameraReleased,
    CameraRemoved,
    CameraStatusChanged,
    DetectionEvent,
    DetectionSwitched,
    DetectionUpdated,
    DetectUpdate,
    EventBus,
    MotionChanged,
    SnapshotTaken,
)
from .detect.detector import ModelError
from .detect.worker import DetectWorker
from .snapshot import Snapshot, SnapshotWorker
from .store import Store, StoreError

_LOGGER = logging.getLogger(__name__)


class CameraExists(Conflict):
    """Raised when adding a camera whose id is already running."""


class UnknownCamera(NotFound):
    """Raised when changing, switching or removing a camera id that is not running."""


class CameraSet:
    """The running cameras (``cameras``, ``snapshots``, ``detectors`` by camera id; ``disabled``:
    the ids switched off). :meth:`open` loads the saved on/off switches and starts the given
    cameras; :meth:`aclose` stops every camera. ``router`` (set before :meth:`open`) chooses,
    per connection, which URL a camera opens (MediaMTX's restream)."""

    def __init__(
        self, bus: EventBus, capture_root: Path, clip_root: Path | None = None, event_urls: bool = False
    ) -> None:
        self.bus = bus
        self.cameras: dict[str, Camera] = {}
        self.snapshots: dict[str, SnapshotWorker] = {}
        self.detectors: dict[str, DetectWorker] = {}
        #: ids of the cameras switched off (:meth:`set_enabled`), loaded from the store
        self.disabled: set[str] = set()
        self.router: Router | None = None
        self.store: Store | None = None
        self._capture_root = capture_root
        self.clip_root = clip_root
        self._event_urls = event_urls
        self._stacks: dict[str, AsyncExitStack] = {}
        self._changing = asyncio.Lock()

    async def open(self, store: Store, cameras: list[CameraConfig]) -> None:
        """Load the saved switches from ``store`` and start ``cameras`` (not announced: the
        publisher announces what runs when it connects)."""
        self.store = store
        switches = await asyncio.to_thread(store.camera_switches)
        self.disabled = {cam_id for cam_id, on in switches.items() if not on}
        for cam in cameras:
            await self._start(cam)

    async def aclose(self) -> None:
        """Stop every camera, all at once (leaving the bridge takes the same lock as camera
        changes). One after the other, 100 cameras took ~3.8 s, close to the bridge's stop
        deadline; together the stop takes about as long as one camera's. Every camera is stopped
        even when one fails to; then the first such error is raised."""
        async with self._changing:
            stops = [self._stop(cam_id) for cam_id in list(self._stacks)]
            results = await asyncio.gather(*stops, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- changes ---------------------------------------------------------------------------

    async def add(self, config: CameraConfig) -> None:
        """Start a new camera and announce it (``CameraAdded``). Raises CameraExists."""
        async with self._changing:
            if config.id in self.cameras:
                raise CameraExists(f"camera {config.id} already exists")
            await self._start(config)
            self.bus.publish(CameraAdded(config.id))
        _LOGGER.info("camera %s: added", config.id)

    async def replace(self, config: CameraConfig) -> None:
        """Restart one camera with new options (or resume an ``offline`` one); the others are
        untouched. Raises UnknownCamera."""
        async with self._changing:
            if config.id not in self.cameras:
                raise UnknownCamera(f"no camera {config.id}")
            await self._stop(config.id)
            await self._start(config)
            self.bus.publish(CameraAdded(config.id))
        _LOGGER.info("camera %s: restarted with new options", config.id)

    async def remove(self, cam_id: str) -> None:
        """Stop a camera and announce it gone (``CameraRemoved``). Raises UnknownCamera."""
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCamera(f"no camera {cam_id}")
            await self._stop(cam_id)
            self.disabled.discard(cam_id)
            self.bus.publish(CameraRemoved(cam_id, camera.config))
        _LOGGER.info("camera %s: removed", cam_id)

    async def release(self, cam_id: str) -> None:
        """Stop a camera that moves to another bridge (cluster mode, its lease lost or handed
        over): nothing is announced, so its retained topics and discovery stay for its next
        owner. No-op for an id that is not here."""
        async with self._changing:
            if cam_id in self._stacks:
                await self._stop(cam_id)
            self.disabled.discard(cam_id)
        self.bus.publish(CameraReleased(cam_id))
        _LOGGER.info("camera %s: stopped here (moved to another bridge)", cam_id)

    async def set_offline(self, cam_id: str, reason: str) -> None:
        """Stop a camera but keep it (options, last snapshot) and report it ``offline`` (an
        unplugged USB camera); :meth:`replace` resumes it. Raises UnknownCamera."""
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCamera(f"no camera {cam_id}")
            if cam_id in self.disabled:
                return  # switched off: it stays "disabled"
            self._keep_stopped(cam_id, await self._stop_keeping(cam_id))
            camera.mark_offline(reason)
        _LOGGER.info("camera %s: offline (%s)", cam_id, reason)

    async def set_enabled(self, cam_id: str, enabled: bool) -> bool:
        """Switch a camera on or off at run time, saved in the store (kept across restarts).

        Off stops its connection, decoding, snapshots and detection; it reports ``disabled``
        (availability ``offline``) and keeps its options and last snapshot. On starts it again.
        Publishes ``CameraAdded`` (announce it again) and ``CameraEnabled``. Returns whether the
        switch changed. Raises UnknownCamera, NotSaved (the store failed: nothing changed)."""
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCamera(f"no camera {cam_id}")
            if (cam_id not in self.disabled) == enabled:
                return False
            if self.store is not None:
                try:
                    await asyncio.to_thread(self.store.set_camera_enabled, cam_id, enabled)
                except StoreError as err:
                    raise NotSaved(f"the switch was not saved: {err}") from err
            if enabled:
                self.disabled.discard(cam_id)
                await self._stop(cam_id)
                await self._start(camera.config)
            else:
                self.disabled.add(cam_id)
                self._keep_stopped(cam_id, await self._stop_keeping(cam_id))
                camera.mark_disabled()
            self.bus.publish(CameraAdded(cam_id))
        self.bus.publish(CameraEnabled(cam_id, enabled))
        _LOGGER.info("camera %s: switched %s", cam_id, "on" if enabled else "off")
        return True

    # -- internals -------------------------------------------------------------------------

    async def _stop_keeping(self, cam_id: str) -> tuple[Camera, SnapshotWorker]:
        pair = self.cameras[cam_id], self.snapshots[cam_id]
        await self._stop(cam_id)
        return pair

    def _keep_stopped(self, cam_id: str, pair: tuple[Camera, SnapshotWorker]) -> None:
        """Keep a stopped camera and its worker (last snapshot), nothing running."""
        self.cameras[cam_id], self.snapshots[cam_id] = pair
        self._stacks[cam_id] = AsyncExitStack()

    async def _start(self, config: CameraConfig) -> None:
        camera = Camera(config)
        if self.router is not None:
            camera.router = self.router
        worker = SnapshotWorker(camera, config.snapshot, self._on_snapshot)
        camera.add_listener(self._on_camera_state)
        stack = AsyncExitStack()
        if config.id in self.disabled:  # switched off: kept, nothing runs
            self.cameras[config.id], self.snapshots[config.id] = camera, worker
            self._stacks[config.id] = stack
            camera.mark_disabled()
            return
        try:
            # the consumer subscribes before the camera connects: the first keyframe is used
            await stack.enter_async_context(worker)
            if config.detect.enabled:
                switches = await asyncio.to_thread(self.store.detection) if self.store is not None else {}
                detector = DetectWorker(
                    camera,
                    config.detect,
                    self._on_detection,
                    capture_root=self._capture_root,
                    snapshot_width=config.snapshot.max_width,
                    snapshot_quality=config.event_snapshot.quality,
                    clip_root=self.clip_root,
                    event_urls=self._event_urls,
                    enabled=switches.get(config.id, True),
                    save_switch=functools.partial(self._save_detect_switch, config.id),
                )
                try:
                    await stack.enter_async_context(detector)
                except ModelError as err:  # a stored API camera whose model file went away
                    _LOGGER.error("camera %s: detection off: %s", config.id, err)
                else:
                    self.detectors[config.id] = detector
            await stack.enter_async_context(camera)
        except BaseException:
            await stack.aclose()
            raise
        self.cameras[config.id] = camera
        self.snapshots[config.id] = worker
        self._stacks[config.id] = stack

    async def _stop(self, cam_id: str) -> None:
        # out of the maps first: a stopping camera's last state must not be published again
        self.cameras.pop(cam_id, None)
        self.snapshots.pop(cam_id, None)
        self.detectors.pop(cam_id, None)
        await self._stacks.pop(cam_id).aclose()

    def _save_detect_switch(self, cam_id: str, enabled: bool) -> None:
        """Save a camera's detection switch (blocking: called in its detection thread)."""
        if self.store is None:
            return
        try:
            self.store.set_detection(cam_id, enabled)
        except StoreError as err:
            _LOGGER.warning("camera %s: the detection switch will not survive a restart: %s", cam_id, err)

    def _on_camera_state(self, camera: Camera) -> None:
        if self.cameras.get(camera.id) is not camera:
            return  # a camera being replaced or removed reporting "stopped"
        self.bus.publish(CameraStatusChanged(camera.id, camera.status.as_payload()))

    def _on_snapshot(self, cam_id: str, snap: Snapshot) -> None:
        camera = self.cameras.get(cam_id)
        if camera is not None:
            camera.snapshot_taken(snap.taken_at)
        self.bus.publish(SnapshotTaken(cam_id, snap.jpeg, snap.taken_at, snap.width, snap.height))

    def _on_detection(self, update: DetectUpdate) -> None:
        # also from a camera being stopped (switched off, removed, replaced): its events end
        # with "stream_lost" (a removed camera's retained topics are cleared after this)
        self.bus.publish(DetectionUpdated(update.camera, update))
        for event in update.events:
            self.bus.publish(DetectionEvent(update.camera, event))
        if update.motion is not None:
            self.bus.publish(MotionChanged(update.camera, update.motion))
        if update.enabled is not None:
            self.bus.publish(DetectionSwitched(update.camera, update.enabled))
