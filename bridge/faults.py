"""Repeating faults, said once: the one jittered exponential backoff and the one "warn once,
then debug until it clears" log of the bridge (STYLE 5 and 8). Used by the camera supervisor,
MediaMTX's circuit breaker and health check, the cluster member and the config reloader."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any


def jittered_backoff(
    attempt: int,
    base: float,
    cap: float,
    jitter: float = 0.2,
    rand: Callable[[], float] = random.random,
    floor: float = 0.0,
) -> float:
    """Seconds to wait before try ``attempt`` + 1 (0-based): ``base * 2**attempt``, capped at
    ``cap``, spread by +-``jitter`` (a fraction; ``rand`` gives 0-1) and kept within
    [``floor``, ``cap``]."""
    raw = min(cap, base * 2 ** min(max(attempt, 0), 30))
    return max(floor, min(cap, raw * (1 + jitter * (2 * rand() - 1))))


class WarnOnce:
    """A fault that repeats (a peer away, a disk full): :meth:`failed` logs the first time at
    WARNING and then at DEBUG until :meth:`cleared`, which logs the recovery once (at
    ``recovery_level``) when the fault was active. ``active`` says whether it is."""

    def __init__(self, logger: logging.Logger, recovery_level: int = logging.INFO) -> None:
        self._logger = logger
        self._recovery = recovery_level
        self.active = False

    def failed(self, message: str, *args: Any) -> None:
        """Log ``message % args``: WARNING the first time, DEBUG while the fault lasts."""
        self._logger.log(logging.DEBUG if self.active else logging.WARNING, message, *args)
        self.active = True

    def cleared(self, message: str | None = None, *args: Any) -> bool:
        """The fault is gone: log ``message`` (if given) when it was active. Returns whether
        it was active."""
        was, self.active = self.active, False
        if was and message is not None:
            self._logger.log(self._recovery, message, *args)
        return was
