"""USB capture devices: identity, a stable camera id, enumeration from udev or from sysfs, and a
capability probe (V4L2 ioctls) where the platform allows.

The stable id comes from the device's USB identity, never from the ``/dev/videoN`` number (which
changes with plug order): ``usb_{vendor}_{product}_{serial}``, or, for a device without a serial
number, ``usb_{vendor}_{product}_p{port}`` with its USB port path (stable while it stays in the
same port).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

# V4L2 ioctls (linux/videodev2.h): _IOR('V', 0, v4l2_capability[104]), _IOWR('V', 2,
# v4l2_fmtdesc[64]), _IOWR('V', 74, v4l2_frmsizeenum[44])
VIDIOC_QUERYCAP = 0x80685600
VIDIOC_ENUM_FMT = 0xC0405602
VIDIOC_ENUM_FRAMESIZES = 0xC02C564A
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FRMSIZE_TYPE_DISCRETE = 1
MAX_ENUM = 64  #: most formats / sizes read per device


@dataclass(frozen=True)
class UsbDevice:
    """A V4L2 capture device: ``node`` (``/dev/videoN``), ``sys_name`` (``videoN``), USB
    identity (hex ids, serial, ``port`` path such as ``1-1.2``), and, when probed, pixel
    ``formats`` (FourCC such as ``MJPG``, ``YUYV``) and ``sizes`` (``WxH``)."""

    node: str
    sys_name: str
    name: str
    vendor_id: str | None
    product_id: str | None
    serial: str | None
    port: str | None = None
    formats: tuple[str, ...] = field(default=())
    sizes: tuple[str, ...] = field(default=())

    @property
    def stable_id(self) -> str:
        """The camera id for this device (a slug, the same after unplug/re-plug)."""
        vendor, product = self.vendor_id or "0000", self.product_id or "0000"
        tail = self.serial if self.serial else f"p{self.port or self.sys_name}"
        return re.sub(r"[^a-z0-9]+", "_", f"usb_{vendor}_{product}_{tail}".lower()).strip("_")

    def as_event(self) -> dict[str, Any]:
        """JSON form for events: the fields plus ``id`` (the stable id)."""
        return {"id": self.stable_id, **asdict(self), "formats": list(self.formats), "sizes": list(self.sizes)}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return text.strip() or None


def from_udev(dev: Any) -> UsbDevice | None:
    """A pyudev ``video4linux`` device as a :class:`UsbDevice`; None unless it can capture
    (``ID_V4L_CAPABILITIES`` has ``capture``) and has a device node."""
    caps = (dev.properties.get("ID_V4L_CAPABILITIES") or "").split(":")
    node = dev.properties.get("DEVNAME") or dev.device_node
    if "capture" not in caps or not node:
        return None
    usb = dev.find_parent("usb", "usb_device")
    attrs = usb.attributes if usb is not None else None

    def attr(source: Any, name: str) -> str | None:
        try:
            return _text(source.get(name)) if source is not None else None
        except (KeyError, OSError):
            return None

    return UsbDevice(
        node=node,
        sys_name=dev.sys_name,
        name=attr(dev.attributes, "name") or dev.sys_name,
        vendor_id=attr(attrs, "idVendor"),
        product_id=attr(attrs, "idProduct"),
        serial=attr(attrs, "serial"),
        port=usb.sys_name if usb is not None else None,
    )


def scan_sysfs(root: str | os.PathLike[str] = "/sys", dev_root: str = "/dev") -> dict[str, UsbDevice]:
    """Capture devices under ``{root}/class/video4linux`` (no udev needed): sys name -> device.

    Without udev's capability probe, a node counts as a capture node when its ``index`` is 0
    (the first node of a device; UVC metadata nodes have index 1). The USB identity is read from
    the nearest parent directory with ``idVendor``. Blocking.
    """
    found: dict[str, UsbDevice] = {}
    base = Path(root) / "class" / "video4linux"
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return found
    for entry in entries:
        try:
            real = entry.resolve()
            index = _read(real / "index")
            if index not in (None, "0"):
                continue
            usb = next((p for p in real.parents if (p / "idVendor").exists()), None)
        except OSError:
            continue
        found[entry.name] = UsbDevice(
            node=f"{dev_root}/{entry.name}",
            sys_name=entry.name,
            name=_read(real / "name") or entry.name,
            vendor_id=_read(usb / "idVendor") if usb else None,
            product_id=_read(usb / "idProduct") if usb else None,
            serial=_read(usb / "serial") if usb else None,
            port=usb.name if usb else None,
        )
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    except OSError:
        return None


def probe(node: str) -> tuple[bool | None, tuple[str, ...], tuple[str, ...]]:
    """V4L2 capability probe of ``node``: (can capture, pixel formats, discrete sizes). Returns
    ``(None, (), ())`` when the device cannot be opened or queried (no V4L2 here, busy, or not
    a real device). Blocking (a few ioctls)."""
    try:
        fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return None, (), ()
    try:
        buf = bytearray(104)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf)
        caps, device_caps = struct.unpack_from("<II", buf, 84)
        effective = device_caps if caps & V4L2_CAP_DEVICE_CAPS else caps
        capture = bool(effective & V4L2_CAP_VIDEO_CAPTURE)
        formats: list[str] = []
        sizes: list[str] = []
        for index in range(MAX_ENUM):
            desc = bytearray(struct.pack("<II", index, V4L2_BUF_TYPE_VIDEO_CAPTURE) + bytes(56))
            try:
                fcntl.ioctl(fd, VIDIOC_ENUM_FMT, desc)
            except OSError:
                break
            fourcc = struct.unpack_from("<I", desc, 44)[0]
            formats.append(fourcc.to_bytes(4, "little").decode("ascii", "replace").strip())
            for size_index in range(MAX_ENUM):
                frm = bytearray(struct.pack("<II", size_index, fourcc) + bytes(36))
                try:
                    fcntl.ioctl(fd, VIDIOC_ENUM_FRAMESIZES, frm)
                except OSError:
                    break
                kind, width, height = struct.unpack_from("<III", frm, 8)
                if kind != V4L2_FRMSIZE_TYPE_DISCRETE:
                    break
                if f"{width}x{height}" not in sizes:
                    sizes.append(f"{width}x{height}")
        return capture, tuple(formats), tuple(sizes)
    except OSError as err:
        _LOGGER.debug("usb: %s cannot be probed: %s", node, err)
        return None, (), ()
    finally:
        os.close(fd)
