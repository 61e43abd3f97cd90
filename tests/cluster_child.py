"""A cluster member in its own process, for the failover tests: ``python -m tests.cluster_child
DSN NAME CAMERAS TTL RENEW``. Prints one line per fact, with wall-clock seconds:
``take CAMERA EPOCH T``, ``lose CAMERA T``, ``pub CAMERA EPOCH T`` (a "publish" every 0.1 s for
each running camera, gated by the lease as the bridge's writes are). SIGTERM stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from bridge.cluster.lease import Lease
from bridge.cluster.member import ClusterMember


def say(*parts: object) -> None:
    print(*parts, f"{time.time():.3f}", flush=True)


async def main(dsn: str, name: str, cameras: list[str], ttl: float, renew: float) -> None:
    running: set[str] = set()

    async def on_take(lease: Lease) -> None:
        running.add(lease.camera)
        say("take", lease.camera, lease.epoch)

    async def on_lose(camera: str) -> None:
        running.discard(camera)
        say("lose", camera)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with ClusterMember(dsn, name, lambda: cameras, on_take, on_lose, ttl=ttl, renew=renew,
                             settle=0.5) as member:
        say("ready", name)
        while not stop.is_set():
            for camera in sorted(running):
                if member.valid(camera):
                    say("pub", camera, member.epoch(camera))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
    say("stopped", name)


if __name__ == "__main__":
    dsn, name, cams, ttl, renew = sys.argv[1:6]
    asyncio.run(main(dsn, name, cams.split(","), float(ttl), float(renew)))
