# /usr/bin/python3 (Debian python3-gi + gir1.2-umockdev-1.0), run under umockdev-wrapper: a
# umockdev testbed taking `add N [SERIAL]` / `remove N` on stdin (answers `ok`). Like
# ../shared/usb/testbed_helper.py, plus a serial of choice and removal of the USB parent too, so
# one camera can be unplugged and plugged in again (under another /dev/videoN).
import sys

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

tb = UMockdev.Testbed.new()
devs = {}
print(tb.get_root_dir(), flush=True)
for line in sys.stdin:
    cmd, name, *rest = line.split()
    if cmd == "add":
        serial = rest[0] if rest else f"SN{name}"
        usb = tb.add_device("usb", f"usb1/1-{name}", None,
                            ["idVendor", "046d", "idProduct", "0825", "serial", serial], ["DEVTYPE", "usb_device"])
        video = tb.add_device("video4linux", f"video{name}", usb, ["name", f"Cam {name}", "index", "0"],
                              ["DEVNAME", f"/dev/video{name}", "ID_V4L_CAPABILITIES", ":capture:"])
        devs[name] = (usb, video)
    elif cmd == "remove":
        usb, video = devs.pop(name)
        tb.uevent(video, "remove")
        tb.remove_device(video)
        tb.remove_device(usb)
    print("ok", flush=True)
