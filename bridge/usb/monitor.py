"""USB hot-plug monitor: udev events and/or sysfs polling turned into reports to the control
port.

Loops (``usb.discovery``): ``usb.udev`` reads a pyudev netlink monitor on ``video4linux`` with
the event loop's reader (no thread, no polling delay); ``usb.poll`` scans sysfs every
``poll_interval`` seconds, which also catches what udev did not report (containers without udev
events); ``hybrid`` runs both, and a device seen by both is handled once (by its node).
``usb.handle`` reports the changes one at a time, each as one command of
:class:`~bridge.core.control.BridgeControl` (the monitor never touches the cameras):

* a device appears: ``control.usb_attached`` (a camera with its stable id that is ``offline``
  resumes with the new node; with ``auto_add`` a new camera is started under that id; event
  ``usb.added``: SSE, JSON-RPC, and MQTT ``{base}/bridge/usb``, see bridge/mqtt/usb.py);
* a device disappears: ``control.usb_detached`` (its camera moves to ``offline``, options
  kept; event ``usb.removed``).

At start the devices present are reported before the bridge goes on, then
``control.usb_missing``: a USB camera whose device is absent (unplugged while the bridge was
stopped) is reported ``offline`` at once.

Cameras added here are not stored in the registry: they are found again at every start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine
from typing import Any

from ..config import UsbConfig
from ..core.control import BridgeControl
from ..service import Service
from .devices import UsbDevice, from_udev, probe, scan_sysfs

_LOGGER = logging.getLogger(__name__)


class UsbMonitor(Service):
    """Watches USB capture devices and reports them to ``control`` (the cameras' changes and
    the events are its). ``present`` maps sys name (``videoN``) to the device; ``latencies``
    keeps, for the last adds, seconds from the udev event's arrival to the change being
    applied."""

    def __init__(self, config: UsbConfig, control: BridgeControl) -> None:
        super().__init__()
        self.config = config
        self._control = control
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
        # then a USB camera whose device was unplugged while the bridge was stopped (an API
        # camera is started from the store) goes offline rather than retrying
        await self._control.usb_missing(set(self._owner.values()))

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
        cam_id = await self._control.usb_attached(dev, add=self.config.auto_add)
        if cam_id is not None:
            self._owner[dev.sys_name] = cam_id
        self.latencies = [*self.latencies[-99:], time.monotonic() - at]

    async def _removed(self, dev: UsbDevice, at: float) -> None:
        if dev.sys_name not in self.present or self._stale(dev, at):
            return
        del self.present[dev.sys_name]
        await self._control.usb_detached(dev, self._owner.pop(dev.sys_name, None))

    def camera_of(self, dev: UsbDevice) -> str | None:
        """The camera a present device feeds (None: none)."""
        return self._owner.get(dev.sys_name)
