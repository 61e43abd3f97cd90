"""Heavy work a request triggers (decoding and re-encoding pictures, inference on an upload) runs
off the event loop, in a :class:`Pool` of its own with bounded concurrency.

A pool has a few threads (so image work never takes the default executor from the parts that
need it, such as the state store) and a limit on jobs running or waiting; one more is refused at
once with :class:`Busy` (HTTP 503 ``unavailable``, JSON-RPC ``-32603`` with the reason) instead
of queueing without bound while every waiting request holds its picture in memory.

Pools: :data:`IMAGES` (snapshot downscaling, REST ``?width=`` and JSON-RPC ``cameras.snapshot``)
and :data:`DETECT` (``POST /api/detect``: decode and inference).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..core.errors import Unavailable

T = TypeVar("T")


class Busy(Unavailable):
    """Raised when a pool already has as many jobs running or waiting as it allows."""


class Pool:
    """``workers`` threads named ``name``, at most ``limit`` jobs running or waiting."""

    def __init__(self, name: str, workers: int, limit: int) -> None:
        self.name = name
        self.workers = workers
        self.limit = limit
        self.busy = 0  #: jobs running or waiting now
        self.refused = 0  #: jobs refused since start
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
            return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a thread of this pool; its result, or what it raised. Raises
        :class:`Busy` when ``limit`` jobs are already running or waiting."""
        if self.busy >= self.limit:
            self.refused += 1
            raise Busy(f"busy: {self.limit} {self.name} jobs are already running or waiting; try again in a moment")
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), fn, *args)
        finally:
            self.busy -= 1


IMAGES = Pool("api-images", workers=2, limit=8)  #: snapshot downscaling
DETECT = Pool("detect-api", workers=1, limit=4)  #: ``POST /api/detect``: one inference thread

__all__ = ["DETECT", "IMAGES", "Busy", "Pool"]
