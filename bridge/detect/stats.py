"""Counters of one camera's detection stage, read by the metrics endpoint and the diagnostic
``{base}/{camera}/detect/stats`` topic (written by the detection thread, read anywhere)."""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import ClassVar

#: upper bounds (seconds) of the inference latency histogram buckets (Prometheus ``le``)
BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
FPS_WINDOW = 10.0  #: seconds over which the detection frame rate is measured


@dataclass
class DetectStats:
    """``frames`` processed, ``runs`` of the detector, ``skipped`` frames (no motion, nothing
    tracked: the detector did not run), inference seconds as a histogram (``buckets`` counts per
    :data:`BUCKETS` bound, then +Inf; ``bounds`` those bounds), ``events`` per (label, type)."""

    bounds: ClassVar[tuple[float, ...]] = BUCKETS
    frames: int = 0
    runs: int = 0
    skipped: int = 0
    inference_sum: float = 0.0
    last_inference: float | None = None
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    _times: deque[float] = field(default_factory=lambda: deque(maxlen=300))

    def frame(self, seconds: float) -> None:
        """A detection frame was processed (in ``seconds``)."""
        self.frames += 1
        self._times.append(time.monotonic())

    def inference(self, seconds: float) -> None:
        """The detector ran for ``seconds``."""
        self.runs += 1
        self.inference_sum += seconds
        self.last_inference = seconds
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    @property
    def fps(self) -> float:
        """Detection frames per second over the last ``FPS_WINDOW`` seconds."""
        now = time.monotonic()
        recent = [t for t in list(self._times) if now - t <= FPS_WINDOW]
        return round(len(recent) / FPS_WINDOW, 2)

    def as_payload(self) -> dict[str, object]:
        """The ``detect/stats`` payload: ``fps``, ``inference_ms`` (last run, or null),
        ``frames``, ``runs``, ``skipped``."""
        last = self.last_inference
        return {
            "fps": self.fps,
            "inference_ms": round(last * 1000, 1) if last is not None else None,
            "frames": self.frames,
            "runs": self.runs,
            "skipped": self.skipped,
        }
