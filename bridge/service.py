"""Base of the bridge's long-lived parts: async context managers whose loops run as named tasks
in one ``asyncio.TaskGroup``."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, Self


class Service:
    """An async context manager running its loops in a TaskGroup.

    Subclasses return ``{task name: coroutine}`` from :meth:`_loops` (names such as
    ``camera[front_door].supervise``) and may override :meth:`_start` (before the loops) and
    :meth:`_finish` (after entering ``__aexit__``, before the loops are cancelled). Leaving the
    context cancels the loops and waits for them. A loop that crashes cancels the task that
    entered the service (the bridge's main task), so a bug stops the bridge with its traceback,
    and systemd restarts it, instead of leaving a part silently dead.
    """

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {}

    async def _start(self) -> None:
        """Set-up run on entry, before the loops start."""

    async def _finish(self) -> None:
        """Wind-down run on exit while the loops still run (e.g. final messages)."""

    async def __aenter__(self) -> Self:
        await self._start()
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        # a fresh context: loops started by an API request must not carry its request id
        self._tasks = [
            group.create_task(coro, name=name, context=contextvars.Context()) for name, coro in self._loops().items()
        ]
        return self

    def _start_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``coro`` as task ``name`` in the service's group, cancelled and awaited when the
        service stops. None (and ``coro`` closed unrun) when the service is not running."""
        if self._group is None:
            coro.close()
            return None
        task = self._group.create_task(coro, name=name, context=contextvars.Context())
        self._tasks = [t for t in self._tasks if not t.done()] + [task]
        return task

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._finish()
        finally:
            for task in self._tasks:
                task.cancel()
            if self._group is not None:
                group, self._group = self._group, None
                await group.__aexit__(None, None, None)
