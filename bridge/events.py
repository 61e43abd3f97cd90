"""In-process event bus: camera status changes (and later detection/timelapse events) for the
API's Server-Sent Events and JSON-RPC notifications.

Every event gets an increasing integer id; the last ``buffer`` events are kept so a client that
reconnects with ``Last-Event-ID`` gets what it missed. Each subscriber has a bounded queue: a
subscriber that does not keep up loses its oldest events (and is told so by a ``gap`` flag),
it never makes the bus grow.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One event: ``id`` (increasing), ``type`` (e.g. ``camera.status``), ``data`` (JSON-able),
    ``time`` (seconds since the epoch)."""

    id: int
    type: str
    data: dict[str, Any]
    time: float


@dataclass(eq=False)
class EventSubscription:
    """A subscriber's bounded queue; iterate it to receive events (``types`` filter, None = all).
    ``gaps`` counts events dropped because the subscriber fell behind."""

    types: frozenset[str] | None
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(256))
    gaps: int = 0

    def wants(self, event: Event) -> bool:
        return self.types is None or event.type in self.types

    def put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.gaps += 1
        self.queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    """Publishes events to subscribers on the event loop (not thread-safe: call from the loop)."""

    def __init__(self, buffer: int = 1000) -> None:
        # ids grow across restarts too (milliseconds since the epoch at start, then +1), so a
        # client resuming with an id from an earlier run is told about the gap
        self._ids = itertools.count(int(time.time() * 1000))
        self._recent: deque[Event] = deque(maxlen=buffer)
        self._subs: list[EventSubscription] = []

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        """Create an event, keep it in the resume buffer and hand it to every subscriber."""
        event = Event(next(self._ids), type_, data, time.time())
        self._recent.append(event)
        for sub in self._subs:
            if sub.wants(event):
                sub.put(event)
        return event

    def subscribe(self, types: Iterable[str] | None = None) -> EventSubscription:
        """A new subscription; remove it with :meth:`unsubscribe`."""
        sub = EventSubscription(frozenset(types) if types is not None else None)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: EventSubscription) -> None:
        """Stop delivering to ``sub``."""
        if sub in self._subs:
            self._subs.remove(sub)

    def since(self, last_id: int, types: Iterable[str] | None = None) -> tuple[list[Event], bool]:
        """Buffered events after ``last_id`` and whether the buffer still reaches back that far
        (False: some events in between are gone)."""
        wanted = frozenset(types) if types is not None else None
        events = [e for e in self._recent if e.id > last_id and (wanted is None or e.type in wanted)]
        if last_id > self.last_id:  # an id this bus never gave (an earlier run, or made up)
            return events, False
        complete = not self._recent or self._recent[0].id <= last_id + 1
        return events, complete

    @property
    def last_id(self) -> int:
        """Id of the newest event (0 before the first)."""
        return self._recent[-1].id if self._recent else 0
