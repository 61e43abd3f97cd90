"""Retry delays: jittered exponential backoff (cameras reconnecting, the MQTT connection)."""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_MIN = 1.0  #: seconds, first retry delay
BACKOFF_MAX = 30.0  #: seconds, cap of the exponential backoff
BACKOFF_JITTER = 0.2  #: +-20 % random spread, so cameras behind one failed switch spread out


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Delay in seconds before retry number ``attempt`` (0-based): 1, 2, 4, ... capped at 30,
    spread by +-20 % and kept within [BACKOFF_MIN, BACKOFF_MAX]."""
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(attempt, 16))
    spread = 1 + BACKOFF_JITTER * (2 * rand() - 1)
    return max(BACKOFF_MIN, min(BACKOFF_MAX, base * spread))


__all__ = ["BACKOFF_JITTER", "BACKOFF_MAX", "BACKOFF_MIN", "backoff_delay"]
