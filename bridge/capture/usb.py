"""USB (V4L2) cameras: opening a device with PyAV and enumerating devices with pyudev."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error

from ..config import CameraConfig
from ..errors import DeviceError

_LOGGER = logging.getLogger(__name__)


def input_attempts(cam: CameraConfig) -> list[dict[str, str]]:
    """The V4L2 demuxer options to try, in order.

    ``input_format: auto`` asks for MJPEG first (the camera's own JPEGs become snapshots with no
    decode and no re-encode) and falls back to the driver's default format when the camera does
    not offer MJPEG; any other value is used as given (e.g. ``yuyv422``).
    """
    base: dict[str, str] = {}
    if cam.video_size:
        base["video_size"] = cam.video_size
    if cam.framerate:
        base["framerate"] = f"{cam.framerate:g}"
    if cam.input_format == "auto":
        return [{**base, "input_format": "mjpeg"}, base]
    return [{**base, "input_format": cam.input_format}]


def open_device(cam: CameraConfig, timeout: tuple[float, float]) -> av.container.InputContainer:
    """Open ``cam.source`` (``/dev/videoN``) with PyAV's ``v4l2`` format. Blocking.

    Raises the last ``av.error.FFmpegError``/``OSError`` when no attempt succeeds.
    """
    attempts = input_attempts(cam)
    for i, options in enumerate(attempts):
        try:
            return av.open(cam.source, format="v4l2", options=options, timeout=timeout)
        except (av.error.FFmpegError, OSError) as err:
            if i == len(attempts) - 1:
                raise
            _LOGGER.debug("%s: %s not accepted (%s), trying %s", cam.id, options, err, attempts[i + 1])
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class UsbCamera:
    """A V4L2 capture device as udev describes it."""

    device: str
    name: str
    vendor_id: str | None
    product_id: str | None
    serial: str | None
    capabilities: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def list_devices() -> list[UsbCamera]:
    """Every ``video4linux`` device that can capture (``ID_V4L_CAPABILITIES`` has ``capture``),
    sorted by device node. Raises :class:`DeviceError` when udev cannot be read."""
    try:
        import pyudev

        context = pyudev.Context()
        devices = list(context.list_devices(subsystem="video4linux"))
    except Exception as err:  # pyudev raises ImportError/OSError/... when libudev is unusable
        raise DeviceError(f"cannot enumerate V4L2 devices: {err}") from err
    found = []
    for dev in devices:
        caps = tuple(c for c in (dev.properties.get("ID_V4L_CAPABILITIES") or "").split(":") if c)
        if "capture" not in caps or not dev.device_node:
            continue
        usb_dev = dev.find_parent("usb", "usb_device")
        attrs = usb_dev.attributes if usb_dev is not None else None
        found.append(
            UsbCamera(
                device=dev.device_node,
                name=_attr(dev.attributes, "name") or dev.sys_name,
                vendor_id=_attr(attrs, "idVendor"),
                product_id=_attr(attrs, "idProduct"),
                serial=_attr(attrs, "serial"),
                capabilities=caps,
            )
        )
    return sorted(found, key=lambda c: c.device)


def _attr(attrs: Any, name: str) -> str | None:
    if attrs is None:
        return None
    try:
        value = attrs.get(name)
    except (KeyError, OSError):
        return None
    if value is None:
        return None
    return value.decode(errors="replace").strip() if isinstance(value, bytes) else str(value)
