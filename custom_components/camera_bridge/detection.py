"""A camera's detection as Home Assistant knows it: loaded from the bridge's
``GET /api/cameras/{id}/detection`` at each full reload, then kept current by the pushed
``detection.event``/``detection.motion``/``detection.state`` events (no Home Assistant imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: bus events of the bridge's detection: ``{camera, event: {type, id, label, score, ...}}``,
#: ``{camera, motion}`` and ``{camera, enabled}``
DETECTION_EVENT = "detection.event"
DETECTION_MOTION = "detection.motion"
DETECTION_STATE = "detection.state"
DETECTION_EVENTS = (DETECTION_EVENT, DETECTION_MOTION, DETECTION_STATE)


@dataclass
class Detection:
    """``enabled`` (the run-time switch), ``motion``, ``counts`` (label -> objects in view now),
    ``stats`` (``fps``, ``inference_ms``, ...), ``snapshot_at`` (label -> epoch seconds of the
    latest best snapshot); None while unknown (a bridge without the detection API is known only
    from events, after the first one)."""

    enabled: bool | None = None
    motion: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    snapshot_at: dict[str, float] = field(default_factory=dict)
    #: (label, object id) of the objects tracked now that events told us about
    _tracked: set[tuple[str, Any]] = field(default_factory=set)

    @classmethod
    def from_api(cls, view: dict[str, Any], now: float) -> Detection:
        """From ``GET /api/cameras/{id}/detection`` (``now``: when it was fetched)."""
        return cls(
            enabled=bool(view.get("enabled")),
            motion=bool(view.get("motion")),
            counts={str(k): int(v) for k, v in (view.get("counts") or {}).items()},
            stats=dict(view.get("stats") or {}),
            snapshot_at=dict.fromkeys(view.get("snapshots") or [], now),
        )

    def count(self, label: str) -> int | None:
        """Objects of ``label`` in view now, None while unknown."""
        return self.counts.get(label)

    def apply(self, event_type: str, data: dict[str, Any], now: float) -> None:
        """Take one pushed detection event."""
        if event_type == DETECTION_MOTION:
            self.motion = bool(data.get("motion"))
        elif event_type == DETECTION_STATE:
            self.enabled = bool(data.get("enabled"))
            if not self.enabled:  # switching off ends every event and clears the counts
                self.counts = dict.fromkeys(self.counts, 0)
                self.motion = False
                self._tracked.clear()
        elif event_type == DETECTION_EVENT:
            self._object(data.get("event") or {}, now)

    def _object(self, payload: dict[str, Any], now: float) -> None:
        label, kind = payload.get("label"), payload.get("type")
        if not isinstance(label, str):
            return
        key = (label, payload.get("id"))
        count = self.counts.get(label, 0)
        if kind == "end":
            # an object tracked before the last reload is in the count but unknown here
            self.counts[label] = max(0, count - 1)
            self._tracked.discard(key)
        elif key not in self._tracked:
            self._tracked.add(key)
            # a new object adds one; an update of one from before the reload is counted already
            self.counts[label] = count + 1 if kind == "new" else max(count, 1)
        if payload.get("snapshot_available"):
            self.snapshot_at[label] = float(payload.get("frame_time") or now)
