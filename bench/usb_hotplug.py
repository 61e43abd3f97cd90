"""USB hot-plug benchmark: how long from a udev ``add`` event to the camera being added.

What: a bridge (``python -m tests.usb_child``, USB discovery ``udev`` or ``hybrid``,
``auto_add``) runs under umockdev's preload library next to a umockdev testbed
(``tests/udev_testbed.py``) that emits real udev ``add``/``remove`` events for fake UVC
cameras (046d:0825). ``--plugs`` (default 10) times a camera is plugged in and out (umockdev's preload library
runs out of file-descriptor slots after about 15 in one process).

Reports, per add: (a) in the bridge, seconds from the udev event reaching its event loop to the
camera being started and the events published (``UsbMonitor.latencies``); (b) end to end, from
just before the testbed emits the event to the ``{base}/bridge/usb`` ``added`` message arriving
at an MQTT subscriber (includes umockdev's emission and the broker). Target: (a) and (b) p99 <=
200 ms. ``--json OUT`` writes the figures. Needs ``umockdev`` (apt). Run from the repo root:
``python bench/usb_hotplug.py [--plugs N] [--discovery udev|hybrid]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.peers import Mosquitto, MqttRecorder, temp_dir
from tests.e2e.test_usb_discovery import FakeUdev, start_child, stop_child

TARGET_S = 0.2


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def run(plugs: int, discovery: str) -> dict:
    broker = Mosquitto(temp_dir("usb-bench-"))
    broker.start()
    testbed = FakeUdev()
    prefix = f"b{uuid.uuid4().hex[:6]}"
    end_to_end: list[float] = []
    try:
        async with MqttRecorder(broker.port, [f"{prefix}/#"]) as rec:
            child = start_child(testbed, broker.port, prefix, discovery)
            try:
                for i in range(plugs):
                    before = time.monotonic()
                    testbed.send(f"add {10 + i} SNBENCH")
                    msg = await rec.next_on(f"{prefix}/bridge/usb", before, timeout=10)
                    end_to_end.append(msg.at - before)
                    gone = time.monotonic()
                    testbed.send(f"remove {10 + i}")
                    await rec.next_on(f"{prefix}/bridge/usb", gone, timeout=10)
            finally:
                inside = stop_child(child)["latencies"]
    finally:
        testbed.close()
        broker.stop()
    figures = {"plugs": plugs, "discovery": discovery}
    for name, values in (("in_bridge", inside), ("end_to_end", end_to_end)):
        figures[name] = {"p50_ms": round(pct(values, 0.5) * 1000, 1), "p99_ms": round(pct(values, 0.99) * 1000, 1),
                         "max_ms": round(max(values) * 1000, 1), "n": len(values)}
    figures["target_met"] = max(end_to_end) <= TARGET_S and max(inside) <= TARGET_S
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugs", type=int, default=10)
    parser.add_argument("--discovery", choices=("udev", "hybrid"), default="hybrid")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    figures = asyncio.run(run(args.plugs, args.discovery))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
