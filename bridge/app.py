"""The bridge: cameras, snapshot workers and the MQTT publisher, nested as context managers.

Cameras can be added, replaced and removed while the bridge runs (the API's camera registry
does); each camera with its snapshot worker has its own exit stack, so changing one camera never
touches another.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Self

from . import __version__, instance, systemd
from .camera import Camera
from .config import CameraConfig, Config
from .errors import BridgeError
from .events import EventBus
from .detect.detector import ModelError
from .detect.worker import DetectUpdate, DetectWorker
from .mqtt import detection
from .mqtt.publisher import MqttPublisher
from .mqtt.enabled import CameraSwitchMqtt
from .mqtt.timelapses import TimelapseMqtt
from .registry import Registry
from .snapshot import Snapshot, SnapshotWorker
from .store import Store, StoreError

if TYPE_CHECKING:
    from .api.server import ApiServer
    from .mediamtx.restream import Restream
    from .mediamtx.service import MediamtxService
    from .timelapse.manager import TimelapseManager
    from .usb.monitor import UsbMonitor

_LOGGER = logging.getLogger(__name__)


class CameraExistsError(BridgeError):
    """Raised when adding a camera whose id is already running."""


class UnknownCameraError(BridgeError):
    """Raised when changing or removing a camera id that is not running."""


class Bridge:
    """Runs cameras and publishes them on MQTT and on the event bus.

    ``async with Bridge(config) as bridge:`` starts the configured cameras; leaving the block
    publishes ``offline`` and stops every camera. Data flows one way: camera -> snapshot worker ->
    publishers (MQTT, event bus).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.events = EventBus()
        self.cameras: dict[str, Camera] = {}
        self.snapshots: dict[str, SnapshotWorker] = {}
        self.publisher = MqttPublisher(config.mqtt, self.cameras, self.snapshots)
        self.detectors: dict[str, DetectWorker] = self.publisher.detectors
        self._camera_stacks: dict[str, AsyncExitStack] = {}
        self._stack = AsyncExitStack()
        self._changing = asyncio.Lock()
        #: ids of the cameras switched off (:meth:`set_camera_enabled`), loaded from the store
        self.disabled: set[str] = set()
        self.store: Store | None = None
        self.registry: Registry | None = None
        self.api: ApiServer | None = None
        self.instance: instance.Instance | None = None
        self.mediamtx: MediamtxService | None = None
        self.restream: Restream | None = None
        self.usb: UsbMonitor | None = None
        self.timelapses: TimelapseManager | None = None
        self._timelapse_mqtt = TimelapseMqtt(self.publisher, discovery=config.mqtt.discovery)
        self.publisher.add_extension(self._timelapse_mqtt)
        self.publisher.add_extension(CameraSwitchMqtt(self))
        if config.mediamtx.enabled:
            self._setup_mediamtx()

    def _setup_mediamtx(self) -> None:
        from .mediamtx.mqtt import MediamtxMqtt
        from .mediamtx.restream import Restream
        from .mediamtx.service import MediamtxService

        self.mediamtx = MediamtxService(self.config.mediamtx, self)
        self.restream = Restream(self.mediamtx, self)
        self.publisher.add_extension(MediamtxMqtt(self.mediamtx, self.publisher, self.restream))

    async def __aenter__(self) -> Self:
        try:
            path = self.config.state_dir / "bridge.db"  # first: cameras start with their saved switches
            self.store = await asyncio.to_thread(Store, path)  # closed after the cameras stopped
            switches = await asyncio.to_thread(self.store.camera_switches)
            self.disabled = {cam_id for cam_id, on in switches.items() if not on}
            for cam in self.config.cameras.values():
                await self._start_camera(cam)
            self.instance = await asyncio.to_thread(instance.load, self.config.state_dir)
            self.publisher.instance_id = self.instance.id
            self.publisher.discovery_off = self.instance.ha_discovery is False
            await self._stack.enter_async_context(self.publisher)
            self.registry = Registry(self, self.store)
            await self.registry.restore()
            if self.mediamtx is not None:
                await self._stack.enter_async_context(self.mediamtx)
            if self.config.usb.discovery != "off":
                from .usb.monitor import UsbMonitor

                self.usb = UsbMonitor(self.config.usb, self)
                await self._stack.enter_async_context(self.usb)
            await self._start_timelapses()
            if self.config.api.enabled:
                from .api.server import (
                    ApiServer,  # aiohttp & co. (~35 MiB) only when serving
                )

                self.api = ApiServer(self, self.registry, self.config.api)
                await self._stack.enter_async_context(self.api)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        _LOGGER.info("bridge %s started with %d camera(s)", __version__, len(self.cameras))
        return self

    async def __aexit__(self, *exc: object) -> None:
        _LOGGER.info("bridge stopping")
        try:
            await self.publisher.stop_commands()  # no MQTT command acts on a stopping part
            await self._stack.aclose()  # the publisher first: final offline messages
        finally:
            try:
                for cam_id in list(self._camera_stacks):
                    await self._stop_camera(cam_id)
            finally:
                if self.store is not None:
                    self.store.close()

    # -- runtime changes -------------------------------------------------------------------

    async def add_camera(self, config: CameraConfig) -> None:
        """Start a new camera and announce it (discovery, state). Raises CameraExistsError."""
        async with self._changing:
            if config.id in self.cameras:
                raise CameraExistsError(f"camera {config.id} already exists")
            await self._start_camera(config)
            self.publisher.camera_added(config.id)
        self._cameras_changed()
        _LOGGER.info("camera %s: added", config.id)

    async def replace_camera(self, config: CameraConfig) -> None:
        """Restart one camera with new options; the others are untouched.
        Raises UnknownCameraError."""
        async with self._changing:
            if config.id not in self.cameras:
                raise UnknownCameraError(f"no camera {config.id}")
            await self._stop_camera(config.id)
            await self._start_camera(config)
            self.publisher.camera_added(config.id)
        self._cameras_changed()
        _LOGGER.info("camera %s: restarted with new options", config.id)

    async def remove_camera(self, cam_id: str) -> None:
        """Stop a camera and clear its retained MQTT topics and discovery.
        Raises UnknownCameraError."""
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCameraError(f"no camera {cam_id}")
            await self._stop_camera(cam_id)
            self.disabled.discard(cam_id)
            self.publisher.camera_removed(camera.config)
        self.events.publish("camera.removed", {"camera": cam_id})
        self._cameras_changed()
        _LOGGER.info("camera %s: removed", cam_id)

    async def set_camera_offline(self, cam_id: str, reason: str) -> None:
        """Stop a camera but keep it (options, last snapshot) and report it ``offline`` (an
        unplugged USB camera); :meth:`replace_camera` resumes it. Raises UnknownCameraError."""
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCameraError(f"no camera {cam_id}")
            if cam_id in self.disabled:
                return  # switched off: it stays "disabled"
            worker = self.snapshots[cam_id]
            await self._stop_camera(cam_id)
            self.cameras[cam_id], self.snapshots[cam_id] = camera, worker
            self._camera_stacks[cam_id] = AsyncExitStack()  # nothing runs: resumed by replace
            camera.mark_offline(reason)
        _LOGGER.info("camera %s: offline (%s)", cam_id, reason)

    async def set_camera_enabled(self, cam_id: str, enabled: bool) -> bool:
        """Switch a camera on or off at run time, saved in the store (kept across restarts).

        Off stops its connection, decoding, snapshots and detection; it reports ``disabled``
        (availability ``offline``) and keeps its options and last snapshot. On starts it again.
        Publishes a ``camera.enabled`` event (``{camera, enabled}``) and the retained MQTT
        ``{base}/{camera}/enabled/state``. Returns whether the switch changed. Raises
        UnknownCameraError, StoreError (nothing changed then).
        """
        async with self._changing:
            camera = self.cameras.get(cam_id)
            if camera is None:
                raise UnknownCameraError(f"no camera {cam_id}")
            if (cam_id not in self.disabled) == enabled:
                return False
            if self.store is not None:
                await asyncio.to_thread(self.store.set_camera_enabled, cam_id, enabled)
            if enabled:
                self.disabled.discard(cam_id)
                await self._stop_camera(cam_id)
                await self._start_camera(camera.config)
            else:
                self.disabled.add(cam_id)
                worker = self.snapshots[cam_id]
                await self._stop_camera(cam_id)
                self.cameras[cam_id], self.snapshots[cam_id] = camera, worker  # last snapshot kept
                self._camera_stacks[cam_id] = AsyncExitStack()  # nothing runs
                camera.mark_disabled()
            self.publisher.camera_added(cam_id)
        self.events.publish("camera.enabled", {"camera": cam_id, "enabled": enabled})
        self._cameras_changed()
        _LOGGER.info("camera %s: switched %s", cam_id, "on" if enabled else "off")
        return True

    def _cameras_changed(self) -> None:
        if self.mediamtx is not None:
            self.mediamtx.cameras_changed()

    # -- internals -------------------------------------------------------------------------

    async def _start_camera(self, config: CameraConfig) -> None:
        camera = Camera(config)
        if self.restream is not None:
            camera.router = self.restream.route
        worker = SnapshotWorker(camera, config.snapshot, self._on_snapshot)
        camera.add_listener(self._on_camera_state)
        stack = AsyncExitStack()
        if config.id in self.disabled:  # switched off: kept, nothing runs
            self.cameras[config.id], self.snapshots[config.id] = camera, worker
            self._camera_stacks[config.id] = stack
            camera.mark_disabled()
            return
        try:
            # the consumer subscribes before the camera connects: the first keyframe is used
            await stack.enter_async_context(worker)
            if config.detect.enabled:
                switches = await asyncio.to_thread(self.store.detection) if self.store is not None else {}
                detector = DetectWorker(camera, config.detect, self._on_detection,
                                        capture_root=self.config.state_dir / "captures",
                                        snapshot_width=config.snapshot.max_width,
                                        enabled=switches.get(config.id, True),
                                        save_switch=functools.partial(self._save_detect_switch, config.id))
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
        self._camera_stacks[config.id] = stack

    async def _stop_camera(self, cam_id: str) -> None:
        # out of the maps first: a stopping camera's last state must not be published again
        self.cameras.pop(cam_id, None)
        self.snapshots.pop(cam_id, None)
        self.detectors.pop(cam_id, None)
        await self._camera_stacks.pop(cam_id).aclose()

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
        self.publisher.on_camera_state(camera)
        self.events.publish("camera.status", {"camera": camera.id, **camera.status.as_payload()})

    async def _start_timelapses(self) -> None:
        from .timelapse.manager import TimelapseManager

        assert self.store is not None
        self.timelapses = TimelapseManager(self.config, self.cameras, self.store,
                                           on_event=self._on_timelapse_event,
                                           on_image=self._timelapse_mqtt.on_image)
        await self._stack.enter_async_context(self.timelapses)
        self._timelapse_mqtt.attach(self.timelapses)

    def _on_timelapse_event(self, type_: str, data: dict[str, Any]) -> None:
        self.events.publish(type_, data)
        self._timelapse_mqtt.on_event(type_, data)

    def _on_snapshot(self, cam_id: str, snap: Snapshot) -> None:
        self.publisher.on_snapshot(cam_id, snap)

    def _on_detection(self, update: DetectUpdate) -> None:
        # also from a camera being stopped (switched off, removed, replaced): its events end
        # with "stream_lost" (a removed camera's retained topics are cleared after this)
        detection.publish_update(self.publisher.link, self.publisher.topics, update)
        for event in update.events:
            self.events.publish("detection.event", {"camera": update.camera, "event": event})
        if update.motion is not None:
            self.events.publish("detection.motion", {"camera": update.camera, "motion": update.motion})
        if update.enabled is not None:
            self.events.publish("detection.state", {"camera": update.camera, "enabled": update.enabled})


async def run(config: Config, stop: asyncio.Event) -> None:
    """Run the bridge until ``stop`` is set, talking to systemd (READY, WATCHDOG, STOPPING)."""
    async with Bridge(config):
        systemd.notify("READY=1", f"STATUS=running {len(config.cameras)} camera(s)")
        interval = systemd.watchdog_interval()
        if interval is None:
            await stop.wait()
        else:
            while not stop.is_set():
                systemd.notify("WATCHDOG=1")
                with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancel on 3.11
                    async with asyncio.timeout(interval):
                        await stop.wait()
        systemd.notify("STOPPING=1")
