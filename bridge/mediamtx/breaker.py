"""Circuit breaker around MediaMTX API calls (closed / open / half-open).

After ``threshold`` consecutive failures the circuit opens: calls fail at once with
:class:`CircuitOpen`, no request is sent, for a delay that doubles with every failed trial
(``base`` seconds, capped at ``cap``, jittered +-20 %). When the delay has passed the circuit is
half-open: exactly one trial call goes through; success closes the circuit, failure opens it
again for the next, longer delay. Pattern: Nygard, *Release It!* (2nd ed.), "Circuit Breaker".
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from ..backoff import jittered_backoff
from ..errors import BridgeError

T = TypeVar("T")

BREAKER_THRESHOLD = 2  #: consecutive failures that open the circuit
BREAKER_BASE = 1.0  #: seconds the circuit first stays open
BREAKER_CAP = 60.0  #: seconds, cap of the exponential open delay
BREAKER_JITTER = 0.2  #: +-20 % spread of the open delay


class BreakerState(StrEnum):
    """``closed`` calls go through; ``open`` calls fail fast; ``half_open`` one trial call."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(BridgeError):
    """Raised instead of calling while the circuit is open; ``retry_in`` is seconds left."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"MediaMTX circuit open, next trial in {retry_in:.1f} s")
        self.retry_in = retry_in


class CircuitBreaker:
    """Guards calls that raise one of ``failures`` (exception types) when the peer is down.

    ``clock`` (monotonic seconds) and ``rand`` (0-1) are injectable for tests. Not thread-safe:
    use from the event loop.
    """

    def __init__(
        self,
        failures: tuple[type[BaseException], ...],
        *,
        threshold: int = BREAKER_THRESHOLD,
        base: float = BREAKER_BASE,
        cap: float = BREAKER_CAP,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._failures = failures
        self._threshold = threshold
        self._base = base
        self._cap = cap
        self._clock = clock
        self._rand = rand
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened = 0  #: times the circuit opened (trial failures included)
        self._open_until = 0.0
        self._trials_failed = 0
        self._trial_running = False

    def delay(self, trials_failed: int) -> float:
        """Seconds to stay open after ``trials_failed`` failed trials: base * 2^n, capped, jittered."""
        return jittered_backoff(trials_failed, self._base, self._cap, BREAKER_JITTER, self._rand)

    @property
    def retry_in(self) -> float:
        """Seconds until the next trial (0 when calls may go through)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    def _admit(self) -> None:
        if self.state is BreakerState.OPEN:
            if self._clock() < self._open_until:
                raise CircuitOpen(self.retry_in)
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_running:
                raise CircuitOpen(0.0)
            self._trial_running = True

    def _record(self, ok: bool) -> None:
        trial = self.state is BreakerState.HALF_OPEN
        self._trial_running = False
        if ok:
            self.state = BreakerState.CLOSED
            self.consecutive_failures = 0
            self._trials_failed = 0
            return
        self.consecutive_failures += 1
        if trial or self.consecutive_failures >= self._threshold:
            if trial:
                self._trials_failed += 1
            self._open_until = self._clock() + self.delay(self._trials_failed)
            self.state = BreakerState.OPEN
            self.opened += 1

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` if the circuit admits it. Raises :class:`CircuitOpen` without calling,
        or what ``fn`` raises (a ``failures`` type counts against the circuit, others do not)."""
        self._admit()
        try:
            result = await fn()
        except self._failures:
            self._record(False)
            raise
        except BaseException:
            self._trial_running = False
            raise
        self._record(True)
        return result
