"""A fake sysfs tree of USB capture devices (``usb.sysfs_root``), for the polling discovery."""

from __future__ import annotations

import shutil
from pathlib import Path


def plug(root: Path, n: int, serial: str | None = "SN1") -> None:
    """A fake sysfs entry for /dev/video{n}: a UVC camera 046d:0825 on USB port 1-{n}."""
    usb = root / "devices" / "pci0000:00" / "usb1" / f"1-{n}"
    usb.mkdir(parents=True)
    (usb / "idVendor").write_text("046d\n")
    (usb / "idProduct").write_text("0825\n")
    if serial:
        (usb / "serial").write_text(serial + "\n")
    video = usb / f"1-{n}:1.0" / "video4linux" / f"video{n}"
    video.mkdir(parents=True)
    (video / "name").write_text(f"Webcam {n}\n")
    (video / "index").write_text("0\n")
    meta = usb / f"1-{n}:1.0" / "video4linux" / f"video{n + 1}"  # the UVC metadata node
    meta.mkdir(parents=True)
    (meta / "index").write_text("1\n")
    cls = root / "class" / "video4linux"
    cls.mkdir(parents=True, exist_ok=True)
    (cls / f"video{n}").symlink_to(video)
    (cls / f"video{n + 1}").symlink_to(meta)


def unplug(root: Path, n: int) -> None:
    for name in (f"video{n}", f"video{n + 1}"):
        (root / "class" / "video4linux" / name).unlink()
    shutil.rmtree(root / "devices" / "pci0000:00" / "usb1" / f"1-{n}")
