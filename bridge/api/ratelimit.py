"""Per-client rate limiting: a token bucket per client, ``api.rate_limit.rate`` tokens per second
up to ``api.rate_limit.burst``; a request takes one token or is answered 429 ``rate_limited`` with
``Retry-After`` (whole seconds, at least 1).

The client is the authenticated principal (``api_key:<name>`` / ``jwt:<sub>``), else the remote
address (behind a reverse proxy every caller shares the proxy's address: ``X-Forwarded-For`` is
not trusted). Public routes (health probes) are exempt. Runs after the auth middleware, so
requests refused with 401 take no token.

Memory is bounded: a bucket idle long enough to be full again is the same as no bucket and is
dropped, and at most :data:`MAX_CLIENTS` buckets are kept (the least recently used goes first).
"""

from __future__ import annotations

import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..config import RateLimitConfig
from .auth import PRINCIPAL, PUBLIC, route_role
from .errors import json_error
from .keys import CONFIG

MAX_CLIENTS = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RateLimiter:
    """Token buckets keyed by client; :meth:`take` says how long to wait (0 = go ahead)."""

    def __init__(
        self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        #: client -> (tokens, time of the last update); least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when granted, else seconds until one is available."""
        now = self._clock()
        self._evict(now)
        tokens, stamp = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)  # most recently used last
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def wait(self, client: str) -> float:
        """Seconds until ``client`` could take a token (0.0: now); takes none."""
        found = self._buckets.get(client)
        if found is None:
            return 0.0
        tokens, stamp = found
        tokens = min(float(self.burst), tokens + (self._clock() - stamp) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        """Drop buckets untouched for ``burst / rate`` seconds: they are full again."""
        idle = self.burst / self.rate
        while self._buckets:
            client, (_, stamp) = next(iter(self._buckets.items()))
            if now - stamp < idle:
                break
            del self._buckets[client]


_LIMITERS: weakref.WeakKeyDictionary[web.Application, RateLimiter] = weakref.WeakKeyDictionary()


def limiter(app: web.Application) -> RateLimiter:
    """The rate limiter of ``app`` (made from its ``api.rate_limit`` on first use)."""
    found = _LIMITERS.get(app)
    if found is None:
        config: RateLimitConfig = app[CONFIG].rate_limit
        found = _LIMITERS[app] = RateLimiter(config.rate, config.burst)
    return found


def client_id(request: web.Request) -> str:
    """Whose bucket ``request`` takes from: its authenticated principal, else its address."""
    principal = request.get(PRINCIPAL)
    if principal is not None and principal.authenticated:
        return f"{principal.method}:{principal.name}"
    return f"addr:{request.remote}"


@web.middleware
async def ratelimit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """429 ``{error: "rate_limited", message}`` with ``Retry-After`` when the client's bucket
    is empty; public routes (health) are exempt."""
    if route_role(request) == PUBLIC:
        return await handler(request)
    wait = limiter(request.app).take(client_id(request))
    if wait > 0:
        retry = max(1, math.ceil(wait))
        return json_error(
            429, "rate_limited", f"too many requests; retry in {retry} s", headers={"Retry-After": str(retry)}
        )
    return await handler(request)


__all__ = ["RateLimiter", "client_id", "limiter", "ratelimit_middleware"]
