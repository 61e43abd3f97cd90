"""Per-connection budgets of the API: caps on open connections, failed authentications per
address, deadlines for writing to slow clients, JSON-RPC calls against the rate limit.

Open connections
    At most ``api.max_websockets`` WebSockets (``GET /ws``) and ``api.max_streams`` event
    (SSE) and MJPEG streams are open at once; of the WebSockets at most a quarter (at least 1)
    may still be waiting for their ``auth`` message. One more is answered ``503``
    ``too_many_connections`` with ``Retry-After`` before it is upgraded or streamed.

Failed authentications
    Each client address may fail ``api.rate_limit.auth_failures`` authentications (default 10;
    a wrong API key or JWT on a request, a failed JSON-RPC ``auth``) at once, refilled at as many
    a minute. Once they are used up, every request from that address that presents
    a credential, right or wrong, is answered ``429`` ``rate_limited`` (JSON-RPC ``auth``:
    error ``-32010``) until one is refilled: guessing keys takes years, not minutes.

Slow clients
    A write to a stream or WebSocket that does not complete within :data:`SEND_TIMEOUT` seconds
    (the client stopped reading and the socket buffers are full) aborts the connection
    (:func:`write`), so a client that does not read holds neither memory nor a slot.

JSON-RPC calls
    Each call over a WebSocket takes a token from the same per-client bucket as a REST request
    (``api.rate_limit``; :func:`rpc_wait`), keyed by the caller's API key / JWT subject, else the
    address.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError
from .ratelimit import RateLimiter, limiter

if TYPE_CHECKING:
    from ..config import ApiConfig

SEND_TIMEOUT = 10.0  #: seconds a write to a slow client may take before it is disconnected
RETRY_AFTER = 5  #: seconds a client refused for too many connections is told to wait

#: route name -> which cap its connections count against
STREAM_ROUTES = {"rpc": "websockets", "events": "streams", "cameras.mjpeg": "streams"}
_OPTION = {"websockets": "api.max_websockets", "streams": "api.max_streams", "pending": "api.max_websockets / 4"}
_WHAT = {
    "websockets": "WebSocket connections",
    "streams": "event and MJPEG streams",
    "pending": "WebSocket connections waiting for authentication",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Slot:
    """One open connection counted against a cap; :meth:`release` gives it back (idempotent)."""

    def __init__(self, counts: Counter[str], kind: str) -> None:
        self._counts = counts
        self._kind: str | None = kind
        counts[kind] += 1

    def release(self) -> None:
        if self._kind is not None:
            self._counts[self._kind] -= 1
            self._kind = None


class Budget:
    """The budgets of one API application (see the module doc)."""

    def __init__(self, config: ApiConfig) -> None:
        self.caps = {
            "websockets": config.max_websockets,
            "streams": config.max_streams,
            "pending": max(1, config.max_websockets // 4),
        }
        self.open: Counter[str] = Counter()
        allowed = config.rate_limit.auth_failures
        self.failures = RateLimiter(allowed / 60.0, allowed)

    def slot(self, kind: str) -> Slot:
        """Count one more connection of ``kind`` (``websockets``, ``streams``, ``pending``).
        Raises :class:`ApiError` 503 ``too_many_connections`` when its cap is reached."""
        cap = self.caps[kind]
        if self.open[kind] >= cap:
            raise ApiError(
                503,
                "too_many_connections",
                f"at most {cap} {_WHAT[kind]} at once ({_OPTION[kind]}); try again later",
                retry_after=RETRY_AFTER,
            )
        return Slot(self.open, kind)

    def auth_wait(self, address: str | None) -> float:
        """Seconds until ``address`` may try to authenticate again (0.0: now)."""
        return self.failures.wait(f"addr:{address}")

    def auth_failed(self, address: str | None) -> None:
        """Count one failed authentication from ``address``."""
        self.failures.take(f"addr:{address}")


_BUDGETS: weakref.WeakKeyDictionary[web.Application, Budget] = weakref.WeakKeyDictionary()


def budget(app: web.Application) -> Budget:
    """The budgets of ``app`` (made from its ``api`` config on first use)."""
    found = _BUDGETS.get(app)
    if found is None:
        from .keys import CONFIG

        found = _BUDGETS[app] = Budget(app[CONFIG])
    return found


def refused(err: ApiError) -> web.Response:
    """The response to a refusal by :meth:`Budget.slot` (with ``Retry-After``)."""
    response = err.response()
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _route_name(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.name if resource is not None else None


@web.middleware
async def budget_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count WebSockets and streams against their caps for as long as their handler runs;
    refuse one more with 503 ``too_many_connections``."""
    kind = STREAM_ROUTES.get(_route_name(request) or "")
    if kind is None or request.method != "GET":
        return await handler(request)
    try:
        slot = budget(request.app).slot(kind)
    except ApiError as err:
        return refused(err)
    try:
        return await handler(request)
    finally:
        slot.release()


async def write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    """Write ``data`` to a stream; a client that does not take it within :data:`SEND_TIMEOUT`
    seconds is disconnected (raises ``ConnectionResetError``, the end of a stream)."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await response.write(data)
    except TimeoutError:
        abort(request.transport)
        raise ConnectionResetError(f"client did not read for {SEND_TIMEOUT:g} s") from None


def abort(transport: Any) -> None:
    """Drop a connection at once (a slow client's), without waiting to flush its buffers."""
    if transport is not None:
        transport.abort()


def rpc_wait(app: web.Application | None, name: str | None, method: str | None, address: str | None) -> float:
    """Take a token for one JSON-RPC call from the REST rate limiter: 0.0 when granted, else
    seconds until one is available. The client is ``<method>:<name>`` for a caller that
    authenticated (``api_key``/``jwt``), else ``addr:<address>``, as for REST requests."""
    if app is None:
        return 0.0
    client = f"{method}:{name}" if method not in (None, "anonymous") else f"addr:{address}"
    return limiter(app).take(client)


__all__ = ["SEND_TIMEOUT", "Budget", "Slot", "abort", "budget", "budget_middleware", "refused", "rpc_wait", "write"]
