"""The API server: an aiohttp application run as a bridge service.

Route modules (``cameras``, ``events``, ...) each expose ``setup(app)`` that adds their routes;
middlewares give every request an id (``X-Request-ID``) and turn every error into JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..config import ApiConfig
from ..redact import redact
from ..service import Service
from ..core.errors import BridgeError
from .errors import ApiError, answer_for, error_response, json_error
from .httplog import HttpLog

if TYPE_CHECKING:
    from ..app import Bridge
    from ..registry import Registry

_LOGGER = logging.getLogger(__name__)

BRIDGE: web.AppKey[Bridge] = web.AppKey("bridge")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
CONFIG: web.AppKey[ApiConfig] = web.AppKey("api_config")

#: tasks of open streaming responses (SSE, MJPEG), cancelled at shutdown so they never hold it up
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("streams")

#: the current request's id, for log lines the request causes
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept ``X-Request-ID`` (or make one), keep it for logging, echo it back."""
    rid = request.headers.get("X-Request-ID", "")[:128] or uuid.uuid4().hex
    token = REQUEST_ID.set(rid)
    try:
        response = await handler(request)
        response.headers["X-Request-ID"] = rid
        return response
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = rid
        raise
    finally:
        REQUEST_ID.reset(token)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON ``{error, message}``; unexpected ones as 500 without details."""
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()
    except BridgeError as err:
        answer = answer_for(err)
        if answer is None:  # a fault, not an answer: as any unexpected error
            _LOGGER.exception("api: %s %s failed", request.method, redact(request.rel_url))
            return json_error(500, "internal_error", "internal error (see the bridge log)")
        return error_response(err, answer)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return json_error(exc.status, code, exc.text or exc.reason, headers=_keep(exc.headers))
    except Exception:
        _LOGGER.exception("api: %s %s failed", request.method, redact(request.rel_url))
        return json_error(500, "internal_error", "internal error (see the bridge log)")


def _keep(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}


#: modules of ``bridge.api`` whose ``setup(app)`` adds routes, in this order
ROUTE_MODULES = ["cameras", "events", "health", "metrics", "rpc", "openapi", "detect", "mediamtx", "usb",
                 "timelapses", "info", "detection", "camera_switch",
                 "session", "probe", "web", "links"]
#: ``module:attribute`` middlewares run after the request-id and error middlewares, in order
#: (metrics first: it also counts what the later ones answer, e.g. 401 and 429)
MIDDLEWARES: list[str] = ["metrics:metrics_middleware", "allowlist:allowlist_middleware",
                          "audit:audit_middleware", "auth:auth_middleware",
                          "ratelimit:ratelimit_middleware", "budget:budget_middleware"]


async def _close_streams(app: web.Application) -> None:
    for task in list(app[STREAMS]):
        task.cancel()


@contextlib.contextmanager
def tracked_stream(request: web.Request) -> Iterator[None]:
    """Register the current handler as a long-lived stream, cancelled when the server stops."""
    task = asyncio.current_task()
    assert task is not None
    streams = request.app[STREAMS]
    streams.add(task)
    try:
        yield
    finally:
        streams.discard(task)


def build_app(bridge: Bridge, registry: Registry, config: ApiConfig) -> web.Application:
    """The aiohttp application with every route module set up."""
    extra = []
    for spec in MIDDLEWARES:
        module, _, attr = spec.partition(":")
        extra.append(getattr(importlib.import_module(f"bridge.api.{module}"), attr))
    app = web.Application(middlewares=[request_id_middleware, error_middleware, *extra],
                          client_max_size=1024 * 1024)
    app[BRIDGE] = bridge
    app[REGISTRY] = registry
    app[CONFIG] = config
    app[STREAMS] = set()
    app.on_shutdown.append(_close_streams)
    for name in ROUTE_MODULES:
        importlib.import_module(f"bridge.api.{name}").setup(app)
    return app


class ApiServer(Service):
    """Serves the API on ``config.host``/``config.port``; :attr:`port` is the bound port."""

    def __init__(self, bridge: Bridge, registry: Registry, config: ApiConfig) -> None:
        super().__init__()
        self._app = build_app(bridge, registry, config)
        self._config = config
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _start(self) -> None:
        # malformed requests: one line with the client address, no traceback (httplog)
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False, logger=HttpLog())
        await runner.setup()
        site = web.TCPSite(runner, self._config.host, self._config.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # noqa: SLF001 - aiohttp exposes no public way to read the port
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        _LOGGER.info("api: listening on http://%s:%s", self._config.host, self.port)

    async def _finish(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
