"""The bridge: cameras, snapshot workers and the MQTT publisher, nested as context managers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import Self

from . import __version__, systemd
from .camera import Camera
from .config import Config
from .mqtt.publisher import MqttPublisher
from .snapshot import SnapshotWorker

_LOGGER = logging.getLogger(__name__)


class Bridge:
    """Runs every configured camera and publishes them on MQTT.

    ``async with Bridge(config) as bridge:`` starts everything; leaving the block publishes
    ``offline`` and stops the cameras. Data flows one way: camera -> snapshot worker -> publisher.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cameras = {cam_id: Camera(cam) for cam_id, cam in config.cameras.items()}
        self.snapshots: dict[str, SnapshotWorker] = {}
        self.publisher: MqttPublisher | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        stack = self._stack
        try:
            self.publisher = MqttPublisher(self.config, self.cameras, self.snapshots)
            for cam_id, camera in self.cameras.items():
                self.snapshots[cam_id] = SnapshotWorker(
                    camera, self.config.cameras[cam_id].snapshot, self.publisher.on_snapshot
                )
            # consumers subscribe before the camera connects, so the first keyframe is used
            for cam_id, camera in self.cameras.items():
                await stack.enter_async_context(self.snapshots[cam_id])
                await stack.enter_async_context(camera)
            await stack.enter_async_context(self.publisher)
        except BaseException:
            await stack.aclose()
            raise
        _LOGGER.info("bridge %s started with %d camera(s)", __version__, len(self.cameras))
        return self

    async def __aexit__(self, *exc: object) -> None:
        _LOGGER.info("bridge stopping")
        await self._stack.aclose()


async def run(config: Config, stop: asyncio.Event) -> None:
    """Run the bridge until ``stop`` is set, talking to systemd (READY, WATCHDOG, STOPPING)."""
    async with Bridge(config):
        systemd.notify("READY=1", f"STATUS=running {len(config.cameras)} camera(s)")
        interval = systemd.watchdog_interval()
        if interval is None:
            await stop.wait()
        else:
            while not stop.is_set():
                systemd.notify("WATCHDOG=1")
                with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancel on 3.11
                    async with asyncio.timeout(interval):
                        await stop.wait()
        systemd.notify("STOPPING=1")
