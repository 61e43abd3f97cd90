"""The one outbound channel of every part: typed events on an in-process :class:`EventBus`.

A part publishes what happened (``bus.publish(CameraEnabled("porch", False))``) and never knows
who listens. Listeners (:meth:`EventBus.listen`: the MQTT publisher and its features) get every
event, typed, on the event loop. Events with a wire type (``camera.status``, ...) are also kept
as :class:`Envelope` for the API's Server-Sent Events and JSON-RPC notifications: each gets an
increasing integer id; the last ``buffer`` are kept so a client that reconnects with
``Last-Event-ID`` gets what it missed. Each subscriber has a bounded queue: one that does not
keep up loses its oldest events (counted in ``gaps``), it never makes the bus grow.

Event payloads on the wire: docs/api.md (events).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import CameraConfig

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeEvent:
    """Base of the typed events. ``TYPE`` is the wire type (``""``: in-process only, e.g. a
    snapshot's bytes); :meth:`data` the JSON-able wire payload."""

    TYPE: ClassVar[str] = ""

    @property
    def wire_type(self) -> str:
        """The type SSE and JSON-RPC clients see (``""``: not sent to them)."""
        return self.TYPE

    def data(self) -> dict[str, Any]:
        """The wire payload: the event's fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class CameraEvent(BridgeEvent):
    """Base of the events about one camera (``camera``: its id)."""

    camera: str


@dataclass(frozen=True)
class CameraStatusChanged(CameraEvent):
    """A camera's status changed; ``status`` is its status payload (state, fps, ...)."""

    TYPE: ClassVar[str] = "camera.status"
    status: Mapping[str, Any]

    def data(self) -> dict[str, Any]:
        return {"camera": self.camera, **self.status}


@dataclass(frozen=True)
class CameraAdded(CameraEvent):
    """A camera was added, or restarted with new options, or switched on or off (announce it
    again: discovery, state). In-process only."""


@dataclass(frozen=True)
class CameraReleased(CameraEvent):
    """Cluster mode: a camera stopped here because it moves to another bridge (nothing of it
    is cleared: its topics stay for the next owner; MediaMTX drops its path). In-process only."""


@dataclass(frozen=True)
class CameraRemoved(CameraEvent):
    """A camera was removed; ``config`` is what it was (to clear what was published for it)."""

    TYPE: ClassVar[str] = "camera.removed"
    config: CameraConfig

    def data(self) -> dict[str, Any]:
        return {"camera": self.camera}


@dataclass(frozen=True)
class CameraEnabled(CameraEvent):
    """A camera was switched on (``enabled``) or off."""

    TYPE: ClassVar[str] = "camera.enabled"
    enabled: bool


@dataclass(frozen=True)
class DiscoverySwitched(BridgeEvent):
    """Home Assistant MQTT discovery was switched on (``enabled``) or off at run time.
    In-process only."""

    enabled: bool


@dataclass(frozen=True)
class SnapshotTaken(CameraEvent):
    """A camera has a new snapshot: ``jpeg`` bytes, taken at ``taken_at`` (seconds since the
    epoch), ``width`` x ``height`` pixels. API clients get wire type ``camera.snapshot`` with
    everything but the bytes (their count as ``bytes``), to fetch ``snapshot.jpeg`` when it
    changes."""

    TYPE: ClassVar[str] = "camera.snapshot"
    jpeg: bytes
    taken_at: float = 0.0
    width: int = 0
    height: int = 0

    def data(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "taken_at": self.taken_at,
            "width": self.width,
            "height": self.height,
            "bytes": len(self.jpeg),
        }


@dataclass
class DetectUpdate:
    """What changed on a camera: event payloads, the motion state, object counts per label,
    best snapshots (label -> JPEG bytes) and their crops (label -> JPEG bytes), the detection
    switch, stats (``detect/stats`` payload); None/empty = unchanged."""

    camera: str
    events: list[dict[str, Any]] = field(default_factory=list)
    motion: bool | None = None
    counts: dict[str, int] | None = None
    snapshots: dict[str, bytes] = field(default_factory=dict)
    crops: dict[str, bytes] = field(default_factory=dict)
    enabled: bool | None = None
    stats: dict[str, Any] | None = None


@dataclass(frozen=True)
class DetectionUpdated(CameraEvent):
    """A camera's detection changed: ``update`` is what the detection stage says changed
    (events, motion, counts, best snapshots, switch, stats). In-process only; the wire gets
    :class:`DetectionEvent`, :class:`MotionChanged` and :class:`DetectionSwitched`."""

    update: DetectUpdate


@dataclass(frozen=True)
class DetectionEvent(CameraEvent):
    """A detection event (``event``: the ``{base}/{camera}/events`` payload)."""

    TYPE: ClassVar[str] = "detection.event"
    event: Mapping[str, Any]


@dataclass(frozen=True)
class MotionChanged(CameraEvent):
    """Motion started (``motion`` true) or stopped on a camera."""

    TYPE: ClassVar[str] = "detection.motion"
    motion: bool


@dataclass(frozen=True)
class DetectionSwitched(CameraEvent):
    """A camera's detection was switched on (``enabled``) or off."""

    TYPE: ClassVar[str] = "detection.state"
    enabled: bool


@dataclass(frozen=True)
class RecordingChanged(CameraEvent):
    """A camera's MediaMTX recording switch changed."""

    TYPE: ClassVar[str] = "camera.recording"
    recording: bool


@dataclass(frozen=True)
class MediamtxAvailability(BridgeEvent):
    """MediaMTX became available or unavailable (``version`` when known, ``error`` why not)."""

    TYPE: ClassVar[str] = "mediamtx.availability"
    available: bool
    version: str | None
    error: str | None


@dataclass(frozen=True)
class MediamtxChanged(BridgeEvent):
    """MediaMTX's state changed (a health check, path statistics, a recording switch): what is
    published about it may need refreshing. In-process only."""


@dataclass(frozen=True)
class MediamtxReconciled(BridgeEvent):
    """The bridge changed MediaMTX's paths (path names)."""

    TYPE: ClassVar[str] = "mediamtx.reconciled"
    added: list[str]
    patched: list[str]
    deleted: list[str]


@dataclass(frozen=True)
class UsbAttached(BridgeEvent):
    """A USB capture device was plugged in: ``device`` (its event payload: id, node, sys_name,
    name, ...) and the ``camera`` it feeds (None: none)."""

    TYPE: ClassVar[str] = "usb.added"
    device: Mapping[str, Any]
    camera: str | None

    def data(self) -> dict[str, Any]:
        return {**self.device, "camera": self.camera}


@dataclass(frozen=True)
class UsbDetached(UsbAttached):
    """A USB capture device was removed (``camera``: the camera taken offline, or None)."""

    TYPE: ClassVar[str] = "usb.removed"


@dataclass(frozen=True)
class TimelapseEvent(BridgeEvent):
    """A timelapse changed: ``kind`` is ``status`` (``payload``: its state payload), ``frame``,
    ``render`` (progress), ``added``, ``updated`` or ``removed``; wire type
    ``timelapse.<kind>``."""

    kind: str
    payload: Mapping[str, Any]

    @property
    def wire_type(self) -> str:
        return f"timelapse.{self.kind}"

    def data(self) -> dict[str, Any]:
        return dict(self.payload)


@dataclass(frozen=True)
class ConfigReloaded(BridgeEvent):
    """The configuration file was reloaded (SIGHUP, a file change, the API, the CLI):
    ``applied`` when it was valid and changed something; ``errors`` (``key.path: message``)
    when it was rejected and the running configuration stays; ``summary`` and ``changes``
    (``{added, removed, changed, sections}``) of what was applied; ``source`` what asked."""

    TYPE: ClassVar[str] = "bridge.config"
    applied: bool
    source: str
    errors: tuple[str, ...] = ()
    summary: str = ""
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "source": self.source,
            "errors": list(self.errors),
            "summary": self.summary,
            "changes": dict(self.changes),
        }


@dataclass(frozen=True)
class TimelapseImage(BridgeEvent):
    """A timelapse's latest frame (``jpeg``), for MQTT ``{base}/timelapse/{id}/image``.
    In-process only."""

    timelapse: str
    jpeg: bytes


@dataclass(frozen=True)
class Envelope:
    """One event as API clients get it: ``id`` (increasing), ``type`` (e.g. ``camera.status``),
    ``data`` (JSON-able), ``time`` (seconds since the epoch)."""

    id: int
    type: str
    data: dict[str, Any]
    time: float


@dataclass(eq=False)
class EventSubscription:
    """A subscriber's bounded queue; iterate it to receive envelopes (``types`` filter, None =
    all). ``gaps`` counts events dropped because the subscriber fell behind."""

    types: frozenset[str] | None
    queue: asyncio.Queue[Envelope] = field(default_factory=lambda: asyncio.Queue(256))
    gaps: int = 0

    def wants(self, event: Envelope) -> bool:
        return self.types is None or event.type in self.types

    def put(self, event: Envelope) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.gaps += 1
        self.queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Envelope]:
        while True:
            yield await self.queue.get()


Listener = Callable[[BridgeEvent], None]


class EventBus:
    """Hands events to listeners and API subscribers (not thread-safe: call from the loop)."""

    def __init__(self, buffer: int = 1000) -> None:
        # ids grow across restarts too (milliseconds since the epoch at start, then +1), so a
        # client resuming with an id from an earlier run is told about the gap
        self._ids = itertools.count(int(time.time() * 1000))
        self._recent: deque[Envelope] = deque(maxlen=buffer)
        self._subs: list[EventSubscription] = []
        self._listeners: list[Listener] = []

    def publish(self, event: BridgeEvent) -> Envelope | None:
        """Give ``event`` to every listener (a failing one is logged, the others still get it),
        then, when it has a wire type, keep it in the resume buffer and queue it for every
        subscriber. Returns the envelope (None for an in-process event)."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("events: a listener failed on %s", type(event).__name__)
        wire = event.wire_type
        if not wire:
            return None
        envelope = Envelope(next(self._ids), wire, event.data(), time.time())
        self._recent.append(envelope)
        for sub in self._subs:
            if sub.wants(envelope):
                sub.put(envelope)
        return envelope

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns the function that stops
        it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe(self, types: Iterable[str] | None = None) -> EventSubscription:
        """A new subscription to wire events; remove it with :meth:`unsubscribe`."""
        sub = EventSubscription(frozenset(types) if types is not None else None)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: EventSubscription) -> None:
        """Stop delivering to ``sub``."""
        if sub in self._subs:
            self._subs.remove(sub)

    def since(self, last_id: int, types: Iterable[str] | None = None) -> tuple[list[Envelope], bool]:
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
        """Id of the newest wire event (0 before the first)."""
        return self._recent[-1].id if self._recent else 0
