"""Retry delays: the one jittered exponential backoff (cameras reconnecting, the MQTT
connection, MediaMTX's circuit breaker)."""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_MIN = 1.0  #: seconds, first retry delay
BACKOFF_MAX = 30.0  #: seconds, cap of the exponential backoff
BACKOFF_JITTER = 0.2  #: +-20 % random spread, so cameras behind one failed switch spread out


def jittered_backoff(
    attempt: int,
    base: float,
    cap: float,
    jitter: float = BACKOFF_JITTER,
    rand: Callable[[], float] = random.random,
    floor: float = 0.0,
) -> float:
    """Seconds to wait before try ``attempt`` + 1 (0-based): ``base * 2**attempt``, capped at
    ``cap``, spread by +-``jitter`` (a fraction; ``rand`` gives 0-1) and kept within
    [``floor``, ``cap``]."""
    raw = min(cap, base * 2 ** min(max(attempt, 0), 30))
    return max(floor, min(cap, raw * (1 + jitter * (2 * rand() - 1))))


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Delay in seconds before retry number ``attempt`` (0-based): 1, 2, 4, ... capped at 30,
    spread by +-20 % and kept within [BACKOFF_MIN, BACKOFF_MAX]."""
    return jittered_backoff(attempt, BACKOFF_MIN, BACKOFF_MAX, BACKOFF_JITTER, rand, floor=BACKOFF_MIN)


__all__ = ["BACKOFF_JITTER", "BACKOFF_MAX", "BACKOFF_MIN", "backoff_delay", "jittered_backoff"]
