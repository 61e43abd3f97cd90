"""The API server: an aiohttp application run as a bridge service.

Route modules (``cameras``, ``events``, ...) each expose ``setup(app)`` that adds their routes
(:data:`ROUTE_MODULES`, imported here like any module); they reach the bridge only through its
two ports, ``app[VIEW]`` and ``app[CONTROL]`` (bridge/api/keys.py). Middlewares give every
request an id (``X-Request-ID``) and turn every error into JSON (domain errors through the one
table of bridge/api/errors.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from types import ModuleType
from typing import Any

from aiohttp import web

from ..config import ApiConfig
from ..core.control import BridgeControl
from ..core.errors import BridgeError
from ..core.view import BridgeView
from ..redact import redact
from ..service import Service

# in this order: ``rpc.discover`` lists the methods in the order their modules were imported
from . import (
    allowlist,
    audit,
    auth,
    budget,
    camera_switch,
    cameras,
    detection,
    events,
    health,
    inference,
    info,
    links,
    mediamtx,
    metrics,
    openapi,
    probe,
    ratelimit,
    rpc,
    session,
    timelapse_rpc,
    timelapses,
    usb,  # isort: skip
)
from . import web as web_page
from .errors import ApiError, answer_for, error_response, json_error
from .httplog import HttpLog
from .keys import CONFIG, CONTROL, STREAMS, VIEW

_LOGGER = logging.getLogger(__name__)

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


#: the route modules whose ``setup(app)`` adds routes, in this order
ROUTE_MODULES: list[ModuleType] = [
    cameras,
    events,
    health,
    metrics,
    rpc,
    openapi,
    inference,
    mediamtx,
    usb,
    timelapses,
    info,
    detection,
    camera_switch,
    session,
    probe,
    web_page,
    links,
]
#: modules that only add JSON-RPC methods (to ``rpc.METHODS``, when imported)
RPC_MODULES: list[ModuleType] = [timelapse_rpc]
#: middlewares run after the request-id and error middlewares, in order (metrics first: it
#: also counts what the later ones answer, e.g. 401 and 429)
MIDDLEWARES: list[Callable[..., Any]] = [
    metrics.metrics_middleware,
    allowlist.allowlist_middleware,
    audit.audit_middleware,
    auth.auth_middleware,
    ratelimit.ratelimit_middleware,
    budget.budget_middleware,
]


async def _close_streams(app: web.Application) -> None:
    streams = app[STREAMS]
    for task in list(streams):
        task.cancel()


def build_app(view: BridgeView, control: BridgeControl, config: ApiConfig) -> web.Application:
    """The aiohttp application with every route module set up, over the bridge's two ports."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, *MIDDLEWARES], client_max_size=1024 * 1024
    )
    app[VIEW] = view
    app[CONTROL] = control
    app[CONFIG] = config
    app[STREAMS] = set()
    app.on_shutdown.append(_close_streams)
    for module in ROUTE_MODULES:
        module.setup(app)
    return app


class ApiServer(Service):
    """Serves the API on ``config.host``/``config.port``; :attr:`port` is the bound port."""

    def __init__(self, view: BridgeView, control: BridgeControl, config: ApiConfig) -> None:
        super().__init__()
        self._app = build_app(view, control, config)
        self._config = config
        self._tls_context: ssl.SSLContext | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _start(self) -> None:
        # malformed requests: one line with the client address, no traceback (httplog)
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False, logger=HttpLog())
        await runner.setup()
        context = None
        if self._config.tls is not None:
            from .tls import server_context

            context = server_context(self._config.tls)
        self._tls_context = context
        site = web.TCPSite(runner, self._config.host, self._config.port, ssl_context=context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None)  # an asyncio.Server for a TCP site
        assert sockets
        self.port = sockets[0].getsockname()[1]
        _LOGGER.info("api: listening on %s://%s:%s", "https" if context else "http", self._config.host, self.port)

    async def reload_certificates(self, why: str) -> bool | None:
        """Load the ``api.tls`` files again (SIGHUP); None without TLS, else whether they loaded
        (the old certificate stays when not)."""
        if self._tls_context is None or self._config.tls is None:
            return None
        from .tls import reload

        return await asyncio.to_thread(reload, self._tls_context, self._config.tls, why)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        if self._tls_context is None or self._config.tls is None:
            return {}
        from .tls import watch

        return {"api.tls.watch": watch(self._tls_context, self._config.tls)}  # reload changed files

    async def _finish(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
