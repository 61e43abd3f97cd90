"""A simple IoU tracker: detections of successive frames become tracked objects with ids, and
tracked objects become events.

Matching is greedy per label on intersection over union (best pairs first, IoU >= ``MATCH_IOU``).
A new object is *confirmed* (a ``new`` event) once the median of its last ``score_frames``
scores (from its first frames on) reaches the label's ``threshold``, so a one-frame false
positive never becomes an event; it *ends* (an ``end`` event, only if it was confirmed) after
missing ``max_disappeared`` frames in a row. ``update`` events: at most one per
``UPDATE_INTERVAL`` seconds per object, when its box moved, its zones changed or its top score
rose. In the spirit of the SORT family (Bewley et al. 2016) without the Kalman filter.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.detect import DetectConfig
from .detector import iou

MATCH_IOU = 0.3
UPDATE_INTERVAL = 1.0  #: seconds, at least, between two update events of one object
MOVED_IOU = 0.9  #: a box overlapping its last published box less than this has moved

_IDS = itertools.count(1)

#: an event's ``end_reason``: the object was no longer seen, the camera's stream went away (or
#: the camera was switched off), detection was switched off
LEFT, STREAM_LOST, DETECTION_OFF = "left", "stream_lost", "detection_off"

Box = tuple[float, float, float, float]


@dataclass
class Track:
    """A tracked object; ``box`` relative (0..1), times in seconds since the epoch."""

    id: str
    label: str
    box: Box
    score: float
    start_time: float
    scores: list[float] = field(default_factory=list)
    top_score: float = 0.0
    missed: int = 0
    confirmed: bool = False
    zones: tuple[str, ...] = ()
    end_time: float | None = None
    #: why it ended (``end`` events): ``left`` (no longer seen), ``stream_lost`` (the camera's
    #: stream went away or the camera was switched off), ``detection_off``
    end_reason: str | None = None
    snapshot_available: bool = False
    #: what the last published event said (for update events)
    _sent_at: float = 0.0
    _sent_box: Box = (0.0, 0.0, 0.0, 0.0)
    _sent_top: float = 0.0
    _sent_zones: tuple[str, ...] = ()

    def payload(self, kind: str, frame_time: float) -> dict[str, Any]:
        """The event payload (docs/mqtt.md ``{base}/{camera}/events``)."""
        return {
            "type": kind,
            "id": self.id,
            "label": self.label,
            "score": round(self.score, 4),
            "top_score": round(self.top_score, 4),
            "box": [round(v, 4) for v in self.box],
            "zones": list(self.zones),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "end_reason": self.end_reason,
            "snapshot_available": self.snapshot_available,
            "frame_time": frame_time,
        }


def zones_of(box: Box, zones: dict[str, tuple[tuple[float, float], ...]]) -> tuple[str, ...]:
    """Names of the ``zones`` (relative polygons) containing the box's bottom centre (where an
    object stands)."""
    import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

    point = ((box[0] + box[2]) / 2, box[3])
    return tuple(
        name for name, poly in zones.items() if cv2.pointPolygonTest(np.array(poly, np.float32), point, False) >= 0
    )


class Tracker:
    """Tracks one camera's objects; ``update`` once per detection frame (not thread-safe)."""

    def __init__(self, config: DetectConfig) -> None:
        self._config = config
        self.tracks: list[Track] = []

    def counts(self) -> dict[str, int]:
        """Confirmed objects present per tracked label (0 for labels with none)."""
        counts = dict.fromkeys(self._config.objects, 0)
        for track in self.tracks:
            if track.confirmed:
                counts[track.label] = counts.get(track.label, 0) + 1
        return counts

    def update(
        self, detections: list[tuple[str, float, Box]], frame_time: float, now: float | None = None
    ) -> list[tuple[str, Track]]:
        """Feed one frame's detections ``(label, score, relative box)``; returns the events
        ``(type, track)`` it causes, ``type`` being ``new``, ``update`` or ``end``. ``now``
        (monotonic-like seconds, default ``time.monotonic()``) paces update events."""
        now = time.monotonic() if now is None else now
        cfg = self._config
        events: list[tuple[str, Track]] = []
        unmatched = set(range(len(detections)))
        matched_tracks: set[int] = set()
        pairs = []
        for t_index, track in enumerate(self.tracks):
            cands = [i for i in unmatched if detections[i][0] == track.label]
            if not cands:
                continue
            overlaps = iou(np.array(track.box), np.array([detections[i][2] for i in cands]))
            pairs += [(float(o), t_index, i) for o, i in zip(overlaps, cands) if o >= MATCH_IOU]
        for _overlap, t_index, d_index in sorted(pairs, reverse=True):
            if t_index in matched_tracks or d_index not in unmatched:
                continue
            matched_tracks.add(t_index)
            unmatched.discard(d_index)
            track = self.tracks[t_index]
            _label, score, box = detections[d_index]
            track.box, track.score, track.missed = box, score, 0
            self._scored(track, score, now, frame_time, events)
        for t_index, track in enumerate(self.tracks):
            if t_index not in matched_tracks:
                track.missed += 1
        for d_index in sorted(unmatched):
            label, score, box = detections[d_index]
            track = Track(f"{int(frame_time * 1000)}-{next(_IDS)}", label, box, score, frame_time)
            self.tracks.append(track)
            self._scored(track, score, now, frame_time, events)
        for track in [t for t in self.tracks if t.missed > cfg.max_disappeared]:
            self.tracks.remove(track)
            if track.confirmed:
                track.end_time, track.end_reason = frame_time, LEFT
                events.append(("end", track))
        return events

    def end_all(self, frame_time: float, reason: str) -> list[tuple[str, Track]]:
        """End every object (detection turned off, stream lost: ``reason``): the ``end``
        events of confirmed ones."""
        events = []
        for track in self.tracks:
            if track.confirmed:
                track.end_time, track.end_reason = frame_time, reason
                events.append(("end", track))
        self.tracks.clear()
        return events

    def _scored(
        self, track: Track, score: float, now: float, frame_time: float, events: list[tuple[str, Track]]
    ) -> None:
        cfg = self._config
        track.scores = (track.scores + [score])[-cfg.score_frames :]
        track.top_score = max(track.top_score, score)
        track.zones = zones_of(track.box, cfg.zones)
        if not track.confirmed:
            if len(track.scores) >= cfg.score_frames and statistics.median(track.scores) >= cfg.threshold_for(
                track.label
            ):
                track.confirmed = True
                self._sent(track, now)
                events.append(("new", track))
            return
        if now - track._sent_at < UPDATE_INTERVAL:
            return
        moved = iou(np.array(track.box), np.array([track._sent_box]))[0] < MOVED_IOU
        if moved or track.top_score > track._sent_top or track.zones != track._sent_zones:
            self._sent(track, now)
            events.append(("update", track))

    @staticmethod
    def _sent(track: Track, now: float) -> None:
        track._sent_at, track._sent_box = now, track.box
        track._sent_top, track._sent_zones = track.top_score, track.zones
