"""USB (V4L2) cameras as far as this machine allows: no V4L2 here, so device enumeration runs on
umockdev's fake udev (../shared/usb) and frames come from MJPEG files (see test_capture.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from bridge.camera import Camera
from bridge.capture.usb import input_attempts
from bridge.config import parse
from bridge.status import CameraState

from ..peers import SHARED


def usb_camera(**extra):
    body = {"device": "/dev/video0", **extra}
    return parse("mqtt: {host: h}\ncameras:\n  desk: " + json.dumps(body), {}).cameras["desk"]


def test_auto_input_prefers_mjpeg_then_falls_back():
    attempts = input_attempts(usb_camera(video_size="1280x720", framerate=15))
    assert attempts == [
        {"video_size": "1280x720", "framerate": "15", "input_format": "mjpeg"},
        {"video_size": "1280x720", "framerate": "15"},
    ]
    assert input_attempts(usb_camera(input_format="yuyv422")) == [{"input_format": "yuyv422"}]


def test_list_devices_finds_the_fake_webcam_through_udev():
    result = subprocess.run(
        ["umockdev-run", "-d", str(SHARED / "usb" / "webcam_c270.umockdev"), "--",
         sys.executable, "-m", "bridge", "list-devices", "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    devices = json.loads(result.stdout)
    assert devices == [{
        "device": "/dev/video0", "name": "Webcam C270", "vendor_id": "046d", "product_id": "0825",
        "serial": "ABC123", "capabilities": ["capture"],
    }]


def test_list_devices_without_udev_devices_is_empty():
    result = subprocess.run([sys.executable, "-m", "bridge", "list-devices", "--json"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(result.stdout) == []


async def test_missing_usb_device_backs_off_with_a_clear_error():
    async with Camera(usb_camera(device="/dev/video9")) as cam:
        deadline = time.monotonic() + 10
        while cam.state not in (CameraState.BACKOFF, CameraState.ERROR):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        error = cam.status.error
    assert "/dev/video9" in error
