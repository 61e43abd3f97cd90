"""USB hot-plug monitor: udev events and/or sysfs polling turned into cameras.

Loops (``usb.discovery``): ``usb.udev`` reads a pyudev netlink monitor on ``video4linux`` with
the event loop's reader (no thread, no polling delay); ``usb.poll`` scans sysfs every
``poll_interval`` seconds, which also catches what udev did not report (containers without udev
events); ``hybrid`` runs both, and a device seen by both is handled once (by its node).
``usb.handle`` applies the changes one at a time:

* a device appears: event ``usb.added`` (event bus: SSE, JSON-RPC; and MQTT
  ``{base}/bridge/usb``, see bridge/mqtt/usb.py); a camera with its stable id that is ``offline`` resumes with the new
  node; with ``auto_add`` a new camera is started under that id;
* a device disappears: event ``usb.removed``; its camera moves to ``offline``, options kept.

At start the devices present are handled before the bridge goes on, then a USB camera whose
device is absent (unplugged while the bridge was stopped) is reported ``offline`` at once.

Cameras added here are not stored in the registry: they are found again at every start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig, ConfigError, UsbConfig
from ..core.events import UsbAttached, UsbDetached
from ..errors import BridgeError
from ..service import Service
from ..status import CameraState
from .devices import UsbDevice, from_udev, probe, scan_sysfs

if TYPE_CHECKING:
    from ..cameras import CameraSet
    from ..core.events import EventBus

#: makes a camera's options from an id and plain options (``{"name", "device"}``); raises ConfigError
NewCamera = Callable[[str, dict[str, Any]], CameraConfig]

_LOGGER = logging.getLogger(__name__)


class UsbMonitor(Service):
    """Watches USB capture devices for a :class:`~bridge.cameras.CameraSet` (events on ``bus``;
    ``new_camera`` makes an auto-added camera's options; ``note_formats(camera id, formats)``
    hands the probed capture formats on, to MediaMTX). ``present`` maps sys name
    (``videoN``) to the device; ``latencies`` keeps, for the last adds, seconds from the udev
    event's arrival to the change being applied."""

    def __init__(
        self,
        config: UsbConfig,
        cameras: CameraSet,
        bus: EventBus,
        new_camera: NewCamera,
        note_formats: Callable[[str, list[str]], None] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self._cameras = cameras
        self._bus = bus
        self._new_camera = new_camera
        self._note_formats = note_formats
        self.present: dict[str, UsbDevice] = {}
        self._queue: asyncio.Queue[tuple[str, UsbDevice, float]] = asyncio.Queue()
        self._monitor: Any = None
        self.latencies: list[float] = []
        #: per sys name, when the last applied change was seen (udev event arrival, poll scan
        #: start): an older observation is stale (a scan must not undo a later udev event)
        self._changed_at: dict[str, float] = {}
        self._owner: dict[str, str] = {}  #: sys name -> the camera it feeds

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        if self.config.discovery in ("udev", "hybrid"):
            self._monitor = await asyncio.to_thread(self._open_monitor)
        initial = await asyncio.to_thread(self._enumerate)
        at = time.monotonic()
        for dev in initial.values():  # before the bridge goes on: its cameras find their devices
            await self._apply("add", dev, at)
        await self._offline_missing()

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        loops: dict[str, Coroutine[Any, Any, None]] = {"usb.handle": self._handle_loop()}
        if self._monitor is not None:
            loops["usb.udev"] = self._udev_loop()
        if self.config.discovery in ("poll", "hybrid"):
            loops["usb.poll"] = self._poll_loop()
        return loops

    def _open_monitor(self) -> Any:
        try:
            import pyudev

            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), "udev")
            monitor.filter_by("video4linux")
            monitor.start()
        except Exception as err:  # no netlink, no libudev: polling must do
            level = logging.WARNING if self.config.discovery == "udev" else logging.INFO
            _LOGGER.log(
                level,
                "usb: no udev events (%s); %s",
                err,
                "nothing will be noticed" if self.config.discovery == "udev" else "polling sysfs",
            )
            return None
        return monitor

    def _enumerate(self) -> dict[str, UsbDevice]:
        if self.config.discovery in ("udev", "hybrid"):
            try:
                import pyudev

                devices = {}
                for dev in pyudev.Context().list_devices(subsystem="video4linux"):
                    found = from_udev(dev)
                    if found is not None:
                        devices[found.sys_name] = found
                if devices or self.config.discovery == "udev":
                    return devices
            except Exception as err:
                _LOGGER.debug("usb: udev enumeration failed: %s", err)
        return scan_sysfs(self.config.sysfs_root)

    # -- sources ---------------------------------------------------------------------------

    def _offer(self, action: str, dev: UsbDevice, at: float) -> None:
        self._queue.put_nowait((action, dev, at))

    async def _udev_loop(self) -> None:
        monitor = self._monitor
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(monitor.fileno(), ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                at = time.monotonic()
                while (dev := monitor.poll(timeout=0)) is not None:
                    if dev.action == "add":
                        found = from_udev(dev)
                        if found is not None:
                            self._offer("add", found, at)
                    elif dev.action == "remove":
                        gone = self.present.get(dev.sys_name)
                        if gone is not None:
                            self._offer("remove", gone, at)
        finally:
            loop.remove_reader(monitor.fileno())

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            at = time.monotonic()  # the scan's start: changes handled after it win
            seen = await asyncio.to_thread(scan_sysfs, self.config.sysfs_root)
            for name, dev in seen.items():
                if name not in self.present:
                    self._offer("add", dev, at)
            for name, dev in list(self.present.items()):
                if name not in seen:
                    self._offer("remove", dev, at)

    # -- changes ---------------------------------------------------------------------------

    async def _handle_loop(self) -> None:
        while True:
            await self._apply(*await self._queue.get())

    async def _apply(self, action: str, dev: UsbDevice, at: float) -> None:
        try:
            if action == "add":
                await self._added(dev, at)
            else:
                await self._removed(dev, at)
        except Exception:  # one bad device must not stop discovery
            _LOGGER.exception("usb: handling %s of %s failed", action, dev.node)

    async def _offline_missing(self) -> None:
        """At start, after the present devices were matched: a USB camera whose device is not
        there (unplugged while the bridge was stopped; an API camera is started from the store)
        goes ``offline`` rather than retrying, and resumes when the device is plugged in."""
        owned = set(self._owner.values())
        for cam_id, camera in list(self._cameras.cameras.items()):
            device = camera.config.device
            if (
                camera.config.kind != "usb"
                or not device
                or cam_id in owned
                or camera.state is CameraState.OFFLINE
                or os.path.exists(device)
            ):
                continue
            try:
                await self._cameras.set_offline(cam_id, f"{device} not present")
            except BridgeError as err:  # removed meanwhile
                _LOGGER.debug("usb: camera %s not reported offline: %s", cam_id, err)

    def _announce(self, kind: str, dev: UsbDevice, camera: str | None) -> None:
        event = UsbAttached if kind == "added" else UsbDetached
        self._bus.publish(event(dev.as_event(), camera))

    def _stale(self, dev: UsbDevice, at: float) -> bool:
        if at < self._changed_at.get(dev.sys_name, float("-inf")):
            return True
        self._changed_at[dev.sys_name] = at  # when the change was seen (event or scan start)
        return False

    async def _added(self, dev: UsbDevice, at: float) -> None:
        if dev.sys_name in self.present or self._stale(dev, at):
            return  # seen by udev and by polling, or a scan older than the last change
        if not dev.formats:
            capture, formats, sizes = await asyncio.to_thread(probe, dev.node)
            if capture is False:
                _LOGGER.debug("usb: %s cannot capture, ignored", dev.node)
                return
            dev = dataclasses.replace(dev, formats=formats, sizes=sizes)
        self.present[dev.sys_name] = dev
        cam_id = self._camera_for(dev)
        if self._note_formats is not None and dev.formats:
            self._note_formats(cam_id or dev.stable_id, list(dev.formats))
        if cam_id is not None:
            camera = self._cameras.cameras[cam_id]
            # a camera under the device's stable id follows its node; one configured with a
            # node or a /dev/v4l/by-id link keeps its own device setting
            device = dev.node if cam_id == dev.stable_id else camera.config.device
            if camera.state is CameraState.OFFLINE or camera.config.device != device:
                await self._cameras.replace(dataclasses.replace(camera.config, device=device))
                _LOGGER.info("usb: %s is at %s: camera %s resumed", dev.name, dev.node, cam_id)
        elif self.config.auto_add:
            try:
                config = self._new_camera(dev.stable_id, {"name": dev.name, "device": dev.node})
            except ConfigError as err:
                _LOGGER.warning("usb: cannot add %s: %s", dev.node, err)
            else:
                await self._cameras.add(config)
                cam_id = dev.stable_id
                _LOGGER.info("usb: %s at %s added as camera %s", dev.name, dev.node, cam_id)
        else:
            _LOGGER.info("usb: %s found at %s (id %s; usb.auto_add is off)", dev.name, dev.node, dev.stable_id)
        if cam_id is not None:
            self._owner[dev.sys_name] = cam_id
        self.latencies = [*self.latencies[-99:], time.monotonic() - at]
        self._announce("added", dev, cam_id)

    async def _removed(self, dev: UsbDevice, at: float) -> None:
        if dev.sys_name not in self.present or self._stale(dev, at):
            return
        del self.present[dev.sys_name]
        # its camera: the one it fed, else one added since it appeared (an API camera)
        cam_id = self._owner.pop(dev.sys_name, None) or self._camera_for(dev)
        camera = self._cameras.cameras.get(cam_id) if cam_id else None
        if camera is not None and camera.state is not CameraState.OFFLINE:
            await self._cameras.set_offline(camera.id, f"{dev.node} unplugged")
        _LOGGER.info("usb: %s (%s) removed", dev.node, dev.stable_id)
        self._announce("removed", dev, camera.id if camera is not None else None)

    def camera_of(self, dev: UsbDevice) -> str | None:
        """The camera a present device feeds (None: none)."""
        return self._owner.get(dev.sys_name)

    def _camera_for(self, dev: UsbDevice) -> str | None:
        """The camera of a device: the one under its stable id, else one whose ``device`` is
        its node (directly or through a ``/dev/v4l/by-id`` link)."""
        cameras = self._cameras.cameras
        if dev.stable_id in cameras:
            return dev.stable_id
        for cam_id, camera in cameras.items():
            device = camera.config.device
            if device and (device == dev.node or os.path.realpath(device) == dev.node):
                return cam_id
        return None
