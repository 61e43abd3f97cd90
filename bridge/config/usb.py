"""The ``usb:`` section: hot-plug discovery of USB (V4L2) cameras."""

from __future__ import annotations

from dataclasses import dataclass

from .options import Section, Sections, boolean, number, one_of, option, options_of, section_schema, text


@dataclass(frozen=True)
class UsbConfig:
    """``usb:`` section: hot-plug discovery (``poll_interval`` in seconds)."""

    discovery: str = option(
        one_of("hybrid", "udev", "poll", "off", false="off"),
        "hybrid",
        "USB hot-plug discovery: udev events, sysfs polling, both, or off.",
    )
    poll_interval: float = option(number(0.1, 3600), 5.0, "Seconds between sysfs polls.")
    auto_add: bool = option(boolean, False, "Start a camera for every discovered capture device.")
    sysfs_root: str = option(text(), "/sys", "sysfs mount point (for polling).")


USB_OPTIONS = options_of(UsbConfig)
USB_SCHEMA = section_schema(USB_OPTIONS)
SECTIONS: Sections = {"": Section(USB_OPTIONS)}
