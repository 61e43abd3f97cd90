"""A timelapse's lifecycle states, its errors, and the runtime record shown on the API and MQTT."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ..config.timelapse import Defaults, Spec, effective, spec_data
from ..core.control import TIMELAPSE_ACTIONS
from ..core.errors import BridgeError, Conflict, Invalid, NotFound
from ..status import iso_utc

BASELINE_FRAMES = 15  #: recent kept frames whose medians are the quality checks' scene baseline


class State(StrEnum):
    """``created`` not started yet; ``running`` capturing at its interval inside its window;
    ``paused`` (resumable); ``stopped`` (for good); ``completed`` its end was reached. Two
    conditions of a running timelapse are shown as its state: ``degraded`` (the last
    ``degraded_after`` frames were all discarded; clears on a good frame) and ``error`` (capture
    cannot go on: low disk space, camera missing, storage failure; clears by itself)."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"
    DEGRADED = "degraded"
    ERROR = "error"


#: the states kept in the store (degraded and error are conditions of ``running``)
LIFECYCLE = (State.CREATED, State.RUNNING, State.PAUSED, State.STOPPED, State.COMPLETED)
#: command -> (states it applies to, resulting state)
TRANSITIONS: dict[str, tuple[tuple[State, ...], State]] = {
    "start": ((State.CREATED,), State.RUNNING),
    "pause": ((State.RUNNING,), State.PAUSED),
    "resume": ((State.PAUSED,), State.RUNNING),
    "stop": ((State.CREATED, State.RUNNING, State.PAUSED), State.STOPPED),
}
#: the actions (the control port's list: every transition, ``render``, ``cancel``)
ACTIONS = TIMELAPSE_ACTIONS
assert set(ACTIONS) == {*TRANSITIONS, "render", "cancel"}, "the control port lists every action"


class TimelapseError(BridgeError):
    """Base of the timelapse errors (each is also one of the kinds of ``core.errors``)."""


class UnknownTimelapse(TimelapseError, NotFound):
    """Raised when no timelapse (or frame, or video) has the given id."""


class TimelapseConflict(TimelapseError, Conflict):
    """Raised when an id exists, a YAML timelapse is changed, or an action does not apply to
    the current state (pause a stopped timelapse, render while rendering)."""


class InvalidTimelapse(TimelapseError, Invalid):
    """Raised when options do not validate; ``errors`` has one ``key.path: message`` each."""


@dataclass(eq=False)
class Runtime:
    """What the manager knows about one timelapse (times in epoch seconds, sizes bytes)."""

    spec: Spec
    origin: str
    lifecycle: State
    started_at: float | None = None
    last_capture_at: float | None = None
    last_attempt_at: float | None = None  #: kept or discarded; the schedule counts from here
    next_capture_at: float | None = None
    frames: int = 0
    bytes: int = 0
    discarded: dict[str, int] = field(default_factory=dict)
    consecutive_bad: int = 0
    degraded: str | None = None
    error: str | None = None
    last_score: float | None = None
    last_reason: str | None = None
    completed_reason: str | None = None
    render: dict[str, Any] | None = None
    render_pending: str | None = None  #: trigger of a scheduled render refused, to be retried
    renders: dict[str, int] = field(default_factory=dict)
    videos: int = 0
    previous: np.ndarray | None = None
    #: quality measures of the recent kept frames (the scene baseline, see quality.Baseline)
    measures: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=BASELINE_FRAMES))
    thumbnail_at: float = 0.0
    next_daily: float | None = None
    capture_task: asyncio.Task[None] | None = None
    render_task: asyncio.Task[None] | None = None
    cancel_requested: bool = False

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> State:
        """The shown state: the lifecycle, or ``error``/``degraded`` while running."""
        if self.lifecycle is State.RUNNING:
            if self.error:
                return State.ERROR
            if self.degraded:
                return State.DEGRADED
        return self.lifecycle

    @property
    def reason(self) -> str | None:
        """Why the state is what it is (error, degraded, completed), else None."""
        if self.lifecycle is State.RUNNING:
            return self.error or self.degraded
        if self.lifecycle is State.COMPLETED:
            return self.completed_reason
        return None

    @property
    def rendering(self) -> bool:
        return self.render_task is not None and not self.render_task.done()

    def status(self) -> dict[str, Any]:
        """The compact status (MQTT ``{base}/timelapse/{id}/state``, events)."""
        return {
            "id": self.id,
            "camera": self.spec.camera,
            "state": str(self.state),
            "reason": self.reason,
            "frames": self.frames,
            "discarded": sum(self.discarded.values()),
            "last_capture_at": iso_utc(self.last_capture_at),
            "next_capture_at": iso_utc(self.next_capture_at) if self.lifecycle is State.RUNNING else None,
            "last_score": self.last_score,
            "render": self.render,
            "render_pending": self.render_pending,
        }

    def view(self, camera_overrides: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
        """The full API view: status, definition, effective settings with their source."""
        settings, sources = effective(self.spec, camera_overrides, defaults)
        definition = spec_data(self.spec)
        for key in sources:
            definition.pop(key, None)
        return {
            **self.status(),
            "name": self.spec.display_name,
            "origin": self.origin,
            "started_at": iso_utc(self.started_at),
            "bytes": self.bytes,
            "discarded_by_reason": dict(sorted(self.discarded.items())),
            "videos": self.videos,
            "definition": definition,
            "settings": {k: {"value": getattr(settings, k), "source": sources[k]} for k in sources},
        }
