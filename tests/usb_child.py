"""Runs a bridge with USB discovery in this process until stdin closes; for tests and the
hot-plug benchmark, started under umockdev's preload library (see ../shared/usb/README.md).

Usage: python -m tests.usb_child BROKER_PORT PREFIX DISCOVERY
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile

import yaml

from bridge.app import Bridge
from bridge.config import parse


async def main(port: int, prefix: str, discovery: str) -> None:
    config = parse(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status"},
        "cameras": {}, "api": {"enabled": False}, "data_dir": tempfile.mkdtemp(prefix="usb-child-"),
        "usb": {"discovery": discovery, "auto_add": True, "poll_interval": 0.5},
    }), {})
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: done.set() if not sys.stdin.readline() else None)
    async with Bridge(config) as bridge:
        print("READY", flush=True)
        await done.wait()
        assert bridge.usb is not None
        print(json.dumps({"latencies": bridge.usb.latencies}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
