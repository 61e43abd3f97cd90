"""USB hot-plug through the control port: the monitor reports each device it sees as one
command (``usb_attached``, ``usb_detached``, ``usb_missing`` at start) and never touches the
cameras; :class:`~bridge.ports.LiveControl` turns those commands into camera changes and the
``usb.added`` / ``usb.removed`` events. No broker, no udev (a fake sysfs tree is polled)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from bridge.cameras import CameraSet
from bridge.config import UsbConfig, camera_from_data
from bridge.core.events import EventBus
from bridge.ports import LiveControl, Parts
from bridge.status import CameraState
from bridge.usb.devices import scan_sysfs
from bridge.usb.monitor import UsbMonitor

from ..usb_sysfs import plug, unplug
from .fakes import make_config


class RecordingControl:
    """The USB commands of the control port, recorded; a device feeds ``feeds[stable id]``."""

    def __init__(self, feeds: dict[str, str]) -> None:
        self.feeds = feeds
        self.calls: list[tuple[Any, ...]] = []

    async def usb_attached(self, device: Any, *, add: bool) -> str | None:
        self.calls.append(("attached", device.node, add))
        return self.feeds.get(device.stable_id)

    async def usb_detached(self, device: Any, camera: str | None) -> str | None:
        self.calls.append(("detached", device.node, camera))
        return camera

    async def usb_missing(self, fed: Any) -> list[str]:
        self.calls.append(("missing", sorted(fed)))
        return []


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_the_monitor_reports_every_device_change_to_the_control(tmp_path):
    plug(tmp_path, 0, "AAA")  # present at start, feeds camera "desk"
    control = RecordingControl({"usb_046d_0825_aaa": "desk"})
    config = UsbConfig(discovery="poll", poll_interval=0.1, auto_add=True, sysfs_root=str(tmp_path))
    async with UsbMonitor(config, control) as monitor:  # type: ignore[arg-type]
        # at start: the devices present first, then the check of the cameras they do not feed
        assert control.calls == [("attached", "/dev/video0", True), ("missing", ["desk"])]
        assert monitor.camera_of(monitor.present["video0"]) == "desk"
        plug(tmp_path, 2, "BBB")  # feeds nothing
        await until(lambda: len(control.calls) == 3)
        assert control.calls[2] == ("attached", "/dev/video2", True)
        assert monitor.camera_of(monitor.present["video2"]) is None
        unplug(tmp_path, 0)
        await until(lambda: len(control.calls) == 4)
        assert control.calls[3] == ("detached", "/dev/video0", "desk")  # the camera it fed
        assert sorted(monitor.present) == ["video2"]


async def test_usb_commands_change_the_cameras_and_publish_the_events(tmp_path):
    config = make_config({})
    bus = EventBus()
    seen = bus.subscribe(["usb.added", "usb.removed"])
    cameras = CameraSet(bus, tmp_path / "captures")
    parts = Parts(config, bus, cameras, new_camera=lambda cam_id, data: camera_from_data(cam_id, data, "unit"))
    control = LiveControl(parts)
    plug(tmp_path, 3, "SN1")
    device = scan_sysfs(tmp_path)["video3"]
    try:
        # without auto_add a device is only reported
        assert await control.usb_attached(device, add=False) is None
        assert cameras.cameras == {}
        # with it, a camera under the device's stable id
        assert await control.usb_attached(device, add=True) == "usb_046d_0825_sn1"
        assert cameras.cameras["usb_046d_0825_sn1"].config.device == "/dev/video3"
        # unplugged: offline, options kept
        assert await control.usb_detached(device, "usb_046d_0825_sn1") == "usb_046d_0825_sn1"
        camera = cameras.cameras["usb_046d_0825_sn1"]
        assert camera.state is CameraState.OFFLINE and "/dev/video3 unplugged" in (camera.status.error or "")
        events = [seen.queue.get_nowait() for _ in range(seen.queue.qsize())]
        assert [(e.type, e.data["camera"]) for e in events] == [
            ("usb.added", None),
            ("usb.added", "usb_046d_0825_sn1"),
            ("usb.removed", "usb_046d_0825_sn1"),
        ]
        # plugged in again at another node: the same camera resumes there
        moved = dataclasses.replace(device, node="/dev/video5", sys_name="video5")
        assert await control.usb_attached(moved, add=True) == "usb_046d_0825_sn1"
        camera = cameras.cameras["usb_046d_0825_sn1"]
        assert camera.state is not CameraState.OFFLINE and camera.config.device == "/dev/video5"
        # at start: a USB camera fed by no device and whose node does not exist goes offline
        assert await control.usb_missing(set()) == ["usb_046d_0825_sn1"]
        assert cameras.cameras["usb_046d_0825_sn1"].state is CameraState.OFFLINE
        assert await control.usb_missing(set()) == []  # already offline
    finally:
        await cameras.aclose()


async def test_a_devices_capture_formats_go_to_mediamtx_under_its_stable_id(tmp_path):
    from types import SimpleNamespace

    bus = EventBus()
    cameras = CameraSet(bus, tmp_path / "captures")
    parts = Parts(make_config({}), bus, cameras)
    parts.mediamtx = SimpleNamespace(formats={})  # type: ignore[assignment]
    plug(tmp_path, 3, "SN1")
    device = dataclasses.replace(scan_sysfs(tmp_path)["video3"], formats=("MJPG", "YUYV"))
    assert await LiveControl(parts).usb_attached(device, add=False) is None  # no camera: under its stable id
    assert parts.mediamtx.formats == {"usb_046d_0825_sn1": ["MJPG", "YUYV"]}
