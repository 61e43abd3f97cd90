"""``GET /ws``: JSON-RPC 2.0 over a WebSocket, mirroring the REST API, with event notifications.

code     ``data.error``       meaning
======== ==================== ===================================================================
-32001   ``not_found``        no such camera (or subscription)
-32002   ``conflict``         the camera id exists, or the camera is defined in YAML (read-only)
-32003   ``invalid_config``   the camera options do not validate; ``data.errors`` lists why
-32004   ``unauthorized``     not authenticated (or ``auth`` failed)
-32005   ``forbidden``        authenticated, but the method needs a higher role
-32006   ``no_snapshot``      the camera has no snapshot yet; ``data.state`` is its state
-32007   ``limit_reached``    too many subscriptions on this connection
-32010   ``rate_limited``     over the caller's rate limit, or too many failed ``auth`` from this
                              address; ``data.retry_after`` in seconds
======== ==================== ===================================================================

``rpc.discover`` lists every method with its parameters, role, version and deprecation.
=======
The protocol (frames, batches, notifications, authentication, events, versioning, error codes,
limits) is documented for clients in docs/api.md ("WebSocket JSON-RPC"). Here: the connection
(bounded send queue, in-order requests, the auth timeout), the method table (:func:`method`
registers a handler; its role comes from the per-operation table of ``auth.ROUTE_ROLES``) and
the camera methods. Method handlers read ``conn.view`` and call ``conn.control`` (the bridge's
two ports) and let ``BridgeError`` kinds propagate: :meth:`Connection.call` answers them from the
one error table of ``bridge/api/errors.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import WSCloseCode, WSMsgType, web

from .. import __version__
from ..config import ROLES
from ..core.errors import BridgeError, NotFound
from ..core.events import EventSubscription
from ..redact import mask_url, redact
from ..status import iso_utc
from . import audit, auth, budget, wire
from .cameras import MAX_AGE_LIMIT, camera_view, camera_views, downscale, fresh_snapshot
from .errors import (
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_REACHED,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RATE_LIMITED,
    RPC_CODES,
    UNAUTHORIZED,
    ApiError,
    answer_for,
)
from .keys import CONFIG, CONTROL, VIEW
from .metrics import count_rpc
from .work import IMAGES

if TYPE_CHECKING:
    from ..config import ApiConfig
    from ..core.control import BridgeControl
    from ..core.view import BridgeView

_LOGGER = logging.getLogger(__name__)


SEND_QUEUE = 64  #: frames waiting for a slow client before its event notifications are dropped
MAX_MESSAGE = 1024 * 1024  #: largest frame accepted from a client, bytes
MAX_UNAUTHENTICATED_MESSAGE = 16 * 1024  #: largest frame accepted before authentication, characters
MAX_ERROR_TEXT = 2000  #: longest string in an error reply (longer ones are clipped), characters
MAX_BATCH = 100  #: most requests in one batch
MAX_SUBSCRIPTIONS = 16  #: most event subscriptions per connection
AUTH_TIMEOUT = 30.0  #: seconds an unauthenticated connection may stay open
MAX_AUTH_FAILURES = 3  #: failed ``auth`` calls before the connection is closed
HEARTBEAT = 30.0  #: seconds between WebSocket pings (dead clients are dropped)

#: methods about every camera at once: not for a caller limited to some cameras
ALL_CAMERA_METHODS = frozenset({"bridge.get", "bridge.set_discovery", "mediamtx.status", "usb.devices"})

CONNECTIONS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("rpc_connections")


def setup(app: web.Application) -> None:
    """Add ``GET /ws`` and close open connections when the server shuts down."""
    app[CONNECTIONS] = weakref.WeakSet()
    app.router.add_get("/ws", websocket, name="rpc")
    app.on_shutdown.append(_close_all)


async def _close_all(app: web.Application) -> None:
    connections = app[CONNECTIONS]
    for ws in list(connections):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


# -- errors and callers ----------------------------------------------------------------------


class RpcError(Exception):
    """Raised by method handlers to answer with a JSON-RPC error (``data`` optional)."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": _scrub(self.message)}
        if self.data is not None:
            error["data"] = _scrub(self.data)
        return error


def app_error(code: int, error: str, message: str, **data: Any) -> RpcError:
    """An application error (``code`` one of this module's codes, or one a route module adds to
    ``ERRORS``) whose ``data`` is ``{"error": error, **data}``: the machine-readable ``error``
    as in the REST API's JSON errors. Raise it from a method handler."""
    return RpcError(code, message, {"error": error, **data})


def _invalid_param(param: str, message: str) -> RpcError:
    text = f"{param}: {message}"
    return RpcError(INVALID_PARAMS, f"invalid params: {text}", {"param": param, "errors": [text]})


def _scrub(value: Any) -> Any:
    """Mask URL credentials and registered secrets in outgoing error texts (clipped first)."""
    if isinstance(value, str):
        return redact(mask_url(wire.clip(value, MAX_ERROR_TEXT)))
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``name``, ``role`` (viewer, operator, admin), how they authenticated and
    when that expires (Unix time; None: never, an API key)."""

    name: str
    role: str
    method: str
    expires: float | None = None
    cameras: frozenset[str] | None = None  #: the only cameras it may see (None: all)

    @classmethod
    def of(cls, principal: Any) -> Caller:
        """From the auth module's ``Principal`` (anything with name, role, method)."""
        return cls(
            str(getattr(principal, "name", "?")),
            str(getattr(principal, "role", "")),
            str(getattr(principal, "method", "?")),
            getattr(principal, "expires", None),
            getattr(principal, "cameras", None),
        )

    def sees(self, camera: str) -> bool:
        """Whether this caller may see and use camera ``camera``."""
        return self.cameras is None or camera in self.cameras

    def may(self, role: str) -> bool:
        return self.role in ROLES and ROLES.index(self.role) >= ROLES.index(role)


ANONYMOUS = Caller("anonymous", "admin", "anonymous")  #: everyone, when the API needs no auth


async def connect_caller(request: web.Request, config: ApiConfig) -> Caller | None:
    """The caller of an upgrade request, from its headers (None: must send ``auth`` first).
    Invalid credentials raise the auth module's error (a 401 before the upgrade)."""
    principal = request.get(auth.PRINCIPAL)
    if principal is None:
        principal = auth.authenticate_request(request)
    if principal is not None:
        return Caller.of(principal)
    return None if config.auth_required else ANONYMOUS


# -- the method table ------------------------------------------------------------------------


Handler = Callable[["Connection", dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Param:
    """One named parameter: its validator, JSON type (for ``rpc.discover``) and description."""

    name: str
    validator: Any
    type: str
    description: str
    required: bool = True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required, "description": self.description}


@dataclass(frozen=True)
class Method:
    """A callable method: name, handler, params, required role (None: anyone), version and, for
    an old version, ``deprecated`` with the ``replacement`` to use."""

    name: str
    handler: Handler
    summary: str
    params: tuple[Param, ...] = ()
    role: str | None = "viewer"
    version: int = 1
    deprecated: bool = False
    replacement: str | None = None
    more_params: str | None = None  #: further params allowed (described here), e.g. camera options
    schema: vol.Schema = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = {(vol.Required if p.required else vol.Optional)(p.name): p.validator for p in self.params}
        extra = vol.ALLOW_EXTRA if self.more_params else vol.PREVENT_EXTRA
        object.__setattr__(self, "schema", vol.Schema(keys, extra=extra))

    def bind(self, params: Any) -> dict[str, Any]:
        """Validate ``params`` (object, array by position or absent). Raises RpcError -32602."""
        if params is None:
            params = {}
        elif isinstance(params, list):
            if self.more_params:
                raise _invalid_param("params", "expected an object (by name)")
            if len(params) > len(self.params):
                raise _invalid_param("params", f"at most {len(self.params)} positional params")
            params = {p.name: v for p, v in zip(self.params, params, strict=False)}
        try:
            return self.schema(params)
        except vol.MultipleInvalid as err:
            problems = [f"{'.'.join(map(str, e.path)) or 'params'}: {_message(e)}" for e in err.errors]
            param = str(err.errors[0].path[0]) if err.errors[0].path else "params"
            raise RpcError(
                INVALID_PARAMS, f"invalid params: {'; '.join(problems)}", {"param": param, "errors": problems}
            ) from None

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "summary": self.summary,
            "params": [p.describe() for p in self.params],
            "role": self.role,
            "version": self.version,
            "deprecated": self.deprecated,
        }
        if self.more_params:
            entry["more_params"] = self.more_params
        if self.replacement:
            entry["replacement"] = self.replacement
        return entry

    def deprecation(self) -> dict[str, Any]:
        return {"replacement": self.replacement, "message": f"{self.name} is deprecated; use {self.replacement}"}


def _message(err: vol.Invalid) -> str:
    return {
        "extra keys not allowed": "unknown parameter",
        "required key not provided": "required parameter missing",
    }.get(err.msg, err.msg)


#: every method by name; filled by :func:`method`
METHODS: dict[str, Method] = {}


def method(
    name: str, summary: str, *params: Param, operation: str | None = None, **options: Any
) -> Callable[[Handler], Handler]:
    """Register the decorated handler as ``name`` (options as for :class:`Method`). Its role is
    the one :data:`bridge.api.auth.ROUTE_ROLES` gives ``operation`` (default: ``name``), the
    REST route doing the same. Raises KeyError when the table has no such operation."""
    role = auth.ROUTE_ROLES[operation or name]

    def register(handler: Handler) -> Handler:
        METHODS[name] = Method(name, handler, summary, params, role=None if role == auth.PUBLIC else role, **options)
        return handler

    return register


def text_param(value: Any) -> str:
    """Validator of a non-empty string parameter. Raises ``vol.Invalid``."""
    if not isinstance(value, str) or not value:
        raise vol.Invalid("expected a non-empty string")
    return value


def flag_param(value: Any) -> bool:
    """Validator of a boolean parameter. Raises ``vol.Invalid``."""
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


def object_param(value: Any) -> dict[str, Any]:
    """Validator of a JSON object parameter. Raises ``vol.Invalid``."""
    if not isinstance(value, dict):
        raise vol.Invalid("expected an object")
    return value


def _text_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise vol.Invalid("expected an array of non-empty strings")
    return value


def _width(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 7680:
        raise vol.Invalid("expected an integer from 16 to 7680 (pixels)")
    return value


def _max_age(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_AGE_LIMIT:
        raise vol.Invalid(f"expected a number of seconds from 0 to {MAX_AGE_LIMIT:g}")
    return float(value)


CAMERA_ID = Param("id", text_param, "string", "camera id")


# -- connections -----------------------------------------------------------------------------


class Connection:
    """One WebSocket client: its caller, event subscriptions and bounded send queue."""

    _ids = itertools.count(1)

    def __init__(
        self,
        view: BridgeView,
        control: BridgeControl,
        ws: web.WebSocketResponse,
        caller: Caller | None,
        app: web.Application | None = None,
    ) -> None:
        self.view = view
        self.control = control
        self.app = app
        self.ws = ws
        self.caller = caller
        self.id = next(self._ids)
        self.auth_failures = 0
        self.close_reason: str | None = None
        self.subscriptions: dict[str, tuple[EventSubscription, asyncio.Task[None]]] = {}
        self._sub_ids = itertools.count(1)
        self._queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE)
        self._writer: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  #: cancelled event tasks, until done
        self.remote: str | None = None  #: the client's address (rate limits, failed-auth budget)
        self.transport: Any = None  #: the client's transport, aborted when it does not read
        self.pending: budget.Slot | None = None  #: the slot of a connection waiting for auth

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"rpc[{self.id}].send")

    async def close(self) -> None:
        """Stop the subscriptions and the writer."""
        for sub_id in list(self.subscriptions):
            self.unsubscribe(sub_id)
        tasks = list(self._stopping)
        if self._writer is not None:
            self._writer.cancel()
            tasks.append(self._writer)
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- sending

    async def send(self, reply: Any) -> None:
        """Queue a reply; waits (and so stops reading requests) while the queue is full. A reply
        that is not strict JSON (NaN, Infinity) goes out as an internal error instead."""
        try:
            text = wire.dumps(reply)
        except (TypeError, ValueError) as err:
            _LOGGER.warning("rpc[%s]: reply is not strict JSON (%s); sent an internal error instead", self.id, err)
            rid = reply.get("id") if isinstance(reply, dict) else None
            text = wire.dumps(
                _reply(rid, error={"code": INTERNAL_ERROR, "message": "internal error (see the bridge log)"})
            )
        await self._queue.put(text)

    def offer(self, message: Any) -> bool:
        """Queue a notification unless the queue is full or it is not strict JSON (then False:
        it is dropped)."""
        try:
            self._queue.put_nowait(wire.dumps(message))
        except (TypeError, ValueError) as err:
            _LOGGER.debug("rpc[%s]: notification dropped, not strict JSON: %s", self.id, err)
            return False
        except asyncio.QueueFull:
            return False
        return True

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until everything queued is sent (bounded by ``timeout``)."""
        async with asyncio.timeout(timeout):
            await self._queue.join()

    async def _write(self) -> None:
        failed = False
        while True:
            text = await self._queue.get()
            try:
                if not failed:
                    async with asyncio.timeout(budget.SEND_TIMEOUT):
                        await self.ws.send_str(text)
            except TimeoutError:
                _LOGGER.info("rpc[%s]: client did not read for %g s; disconnected", self.id, budget.SEND_TIMEOUT)
                self.close_reason = "client too slow"
                budget.abort(self.transport)
                failed = True
            except Exception as err:
                _LOGGER.debug("rpc[%s]: send failed: %s", self.id, err)
                failed = True
            finally:
                self._queue.task_done()

    # -- events

    def subscribe(self, types: list[str] | None) -> str:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise app_error(LIMIT_REACHED, "limit_reached", f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        sub_id = str(next(self._sub_ids))
        sub = self.view.events.subscribe(types)
        task = asyncio.create_task(self._notify(sub_id, sub), name=f"rpc[{self.id}].events[{sub_id}]")
        self.subscriptions[sub_id] = (sub, task)
        return sub_id

    def unsubscribe(self, sub_id: str) -> None:
        sub, task = self.subscriptions.pop(sub_id)
        self.view.events.unsubscribe(sub)
        task.cancel()
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _notify(self, sub_id: str, sub: EventSubscription) -> None:
        missed, gaps = 0, 0  # sub is new: every gap it records is ours to report
        async for event in sub:
            if not self.sees(event.data.get("camera") if isinstance(event.data, dict) else None):
                continue
            missed += sub.gaps - gaps  # dropped by the bus queue
            gaps = sub.gaps
            params: dict[str, Any] = {
                "subscription": sub_id,
                "id": event.id,
                "type": event.type,
                "time": event.time,
                "data": event.data,
            }
            if missed:
                params["missed"] = missed
            if self.offer({"jsonrpc": "2.0", "method": "event", "params": params}):
                missed = 0
            else:
                missed += 1

    # -- requests

    async def serve(self) -> None:
        """Read and answer frames until the client leaves (or must be closed)."""
        deadline = time.monotonic() + AUTH_TIMEOUT
        while self.close_reason is None:
            try:
                if self.caller is None:
                    msg = await self.ws.receive(timeout=max(0.0, deadline - time.monotonic()))
                elif self.caller.expires is not None:  # a JWT: closed when it expires
                    msg = await self.ws.receive(timeout=max(0.0, self.caller.expires - time.time()))
                else:
                    msg = await self.ws.receive()
            except TimeoutError:
                self.close_reason = "authentication timeout" if self.caller is None else "token expired"
                break
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                reply = await self.handle(msg.data)
                if reply is not None:
                    await self.send(reply)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
        with contextlib.suppress(TimeoutError):
            await self.drain()
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=self.close_reason.encode())

    async def handle(self, frame: str | bytes) -> Any:
        """The reply to one frame (a request or a batch); None when nothing is to be sent."""
        if self.caller is None and len(frame) > MAX_UNAUTHENTICATED_MESSAGE:
            return _reply(
                None,
                error=RpcError(
                    INVALID_REQUEST,
                    f"invalid request: frame of {len(frame)} characters before "
                    f"authentication; at most {MAX_UNAUTHENTICATED_MESSAGE}",
                ).as_error(),
            )
        try:
            payload = wire.loads(frame)
        except ValueError as err:  # wire.WireError: not strict JSON, too deep, bad numbers
            return _reply(None, error=RpcError(PARSE_ERROR, f"parse error: {err}").as_error())
        if not isinstance(payload, list):
            return await self.call(payload)
        if not payload:
            return _reply(None, error=RpcError(INVALID_REQUEST, "invalid request: empty batch").as_error())
        if len(payload) > MAX_BATCH:
            return _reply(
                None,
                error=RpcError(
                    INVALID_REQUEST, f"invalid request: batch of {len(payload)}; at most {MAX_BATCH}"
                ).as_error(),
            )
        replies = [reply for item in payload if (reply := await self.call(item)) is not None]
        return replies or None

    async def call(self, request: Any) -> dict[str, Any] | None:
        """Carry out one request; its reply, or None for a notification."""
        problem = _invalid(request)
        if problem is None:
            problem = wire.oversized(request)
        if problem is not None:
            rid = request.get("id") if isinstance(request, dict) and _valid_id(request.get("id")) else None
            if isinstance(rid, str) and len(rid) > wire.MAX_ID:
                rid = None
            return _reply(rid, error=RpcError(INVALID_REQUEST, f"invalid request: {problem}").as_error())
        is_notification = "id" not in request
        rid = request.get("id")
        meth = METHODS.get(request["method"])
        try:
            caller = self.caller
            wait = budget.rpc_wait(
                self.app, caller.name if caller else None, caller.method if caller else None, self.remote
            )
            if wait > 0:
                retry = max(1, math.ceil(wait))
                raise app_error(
                    RATE_LIMITED, "rate_limited", f"too many requests; retry in {retry} s", retry_after=retry
                )
            if meth is None:
                if self.caller is None:  # who may not call anything learns nothing of the table
                    self._check_role(None)
                raise RpcError(
                    METHOD_NOT_FOUND, f"method not found: {request['method']}", {"method": request["method"]}
                )
            self._check_role(meth)
            params = meth.bind(request.get("params"))
            self._check_cameras(meth, params)
            result = await meth.handler(self, params)
            reply = _reply(rid, result=result)
        except RpcError as err:
            reply = _reply(rid, error=err.as_error())
        except BridgeError as err:
            answer = answer_for(err)
            if answer is None:
                _LOGGER.exception("rpc[%s]: %s failed", self.id, request["method"])
                reply = _reply(rid, error={"code": INTERNAL_ERROR, "message": "internal error (see the bridge log)"})
            else:
                reply = _reply(
                    rid, error=app_error(answer.rpc_code, answer.error, str(err), **answer.extra(err)).as_error()
                )
        except Exception:
            _LOGGER.exception("rpc[%s]: %s failed", self.id, request["method"])
            reply = _reply(rid, error={"code": INTERNAL_ERROR, "message": "internal error (see the bridge log)"})
        if meth is not None and meth.deprecated:
            reply["deprecated"] = meth.deprecation()
        count_rpc(
            self.app,
            meth.name if meth is not None else "unknown",
            str(reply["error"]["code"]) if "error" in reply else "ok",
        )
        audit.rpc_call(self, meth, request.get("params"), reply)
        return None if is_notification else reply

    def sees(self, camera: Any) -> bool:
        """Whether this connection's caller may see camera ``camera`` (any non-camera: yes)."""
        return self.caller is None or not isinstance(camera, str) or self.caller.sees(camera)

    def _check_cameras(self, meth: Method, params: dict[str, Any]) -> None:
        """A caller limited to some cameras: another camera is not found (its id does not leak);
        methods about every camera at once (or timelapses, for now) are forbidden."""
        if self.caller is None or self.caller.cameras is None:
            return
        if meth.name in ALL_CAMERA_METHODS or meth.name.startswith("timelapses."):
            raise app_error(
                FORBIDDEN,
                "forbidden",
                f"{self.caller.name} is limited to some cameras; {meth.name} is not available to it",
            )
        if meth.name.startswith("cameras.") and not self.sees(params.get("id")):
            raise NotFound(f"no camera {params.get('id')}")

    def _check_role(self, meth: Method | None) -> None:
        """Refuse the call of ``meth`` (None: an unknown method) unless the caller may make it."""
        if meth is not None and meth.role is None:
            return
        if self.caller is None:
            raise app_error(
                UNAUTHORIZED,
                "unauthorized",
                "authentication required: call auth {token} first, or connect with an "
                "Authorization or X-API-Key header",
            )
        if meth is not None and meth.role is not None and not self.caller.may(meth.role):
            raise app_error(
                FORBIDDEN,
                "forbidden",
                f"{meth.name} needs the {meth.role} role (you are {self.caller.role})",
                role=meth.role,
            )


def _valid_id(rid: Any) -> bool:
    return rid is None or (isinstance(rid, (str, int, float)) and not isinstance(rid, bool))


def _invalid(request: Any) -> str | None:
    """Why ``request`` is not a valid JSON-RPC 2.0 request object (None when it is)."""
    if not isinstance(request, dict):
        return "expected a JSON object"
    if request.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if not isinstance(request.get("method"), str):
        return "method must be a string"
    if "id" in request and not _valid_id(request["id"]):
        return "id must be a string, a number or null"
    if "params" in request and not isinstance(request["params"], (dict, list)):
        return "params must be an object or an array"
    return None


def _reply(rid: Any, *, result: Any = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": rid, "error": error}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


# -- the handler -----------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade to a WebSocket and serve JSON-RPC on it until the client leaves."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "/ws expects a WebSocket upgrade (JSON-RPC 2.0)")
    config = request.app[CONFIG]
    caller = await connect_caller(request, config)
    pending = budget.budget(request.app).slot("pending") if caller is None else None  # or 503
    await ws.prepare(request)
    conn = Connection(request.app[VIEW], request.app[CONTROL], ws, caller, request.app)
    conn.remote, conn.transport, conn.pending = request.remote, request.transport, pending
    request.app[CONNECTIONS].add(ws)
    conn.start()
    _LOGGER.debug("rpc[%s]: connected (%s)", conn.id, caller.name if caller else "unauthenticated")
    try:
        await conn.serve()
    finally:
        if conn.pending is not None:
            conn.pending.release()
        request.app[CONNECTIONS].discard(ws)
        await conn.close()
        _LOGGER.debug("rpc[%s]: closed", conn.id)
    return ws


# -- methods ---------------------------------------------------------------------------------


@method("rpc.discover", "The methods (params, role, version, deprecation), notifications and error codes.")
async def _discover(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "bridge": __version__,
        "methods": [m.describe() for m in METHODS.values()],
        "notifications": [{"method": "event", "params": ["subscription", "id", "type", "time", "data", "missed"]}],
        "errors": {str(code): text for code, text in ERRORS.items()},
        "caller": None if conn.caller is None else {"name": conn.caller.name, "role": conn.caller.role},
    }


@method(
    "auth",
    "Authenticate this connection with a token (API key or JWT).",
    Param("token", text_param, "string", "an API key or a JWT bearer token"),
)
async def _auth(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    principal = None
    budgets = budget.budget(conn.app) if conn.app is not None else None
    wait = budgets.auth_wait(conn.remote) if budgets is not None else 0.0
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise app_error(
            RATE_LIMITED,
            "rate_limited",
            f"too many failed authentications from {conn.remote}; retry in {retry} s",
            retry_after=retry,
        )
    try:
        if conn.app is not None:  # a connection of the server (not one built by hand)
            principal = auth.authenticate_token(conn.app, params["token"])
    except (ApiError, ValueError, LookupError) as err:
        _LOGGER.debug("rpc[%s]: auth failed: %s", conn.id, err)
    if principal is None:
        if budgets is not None:
            budgets.auth_failed(conn.remote)
        conn.auth_failures += 1
        if conn.auth_failures >= MAX_AUTH_FAILURES:
            conn.close_reason = "too many failed auth attempts"
        raise app_error(UNAUTHORIZED, "unauthorized", "invalid token")
    conn.caller = Caller.of(principal)
    if conn.pending is not None:
        conn.pending.release()
    return {"name": conn.caller.name, "role": conn.caller.role, "method": conn.caller.method}


@method(
    "cameras.list",
    "Every camera this bridge runs with its options (credentials masked) and status.",
    Param("remote", flag_param, "boolean", "also the cluster's cameras running on other bridges", required=False),
    version=2,
)
async def _list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"cameras": camera_views(conn.view, conn.sees, remote=params.get("remote", False))}


@method(
    "cameras.list.v1",
    "Every camera, as a bare array (the first form of cameras.list).",
    version=1,
    deprecated=True,
    replacement="cameras.list",
    operation="cameras.list",
)
async def _list_v1(conn: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
    return camera_views(conn.view, conn.sees)


@method("cameras.get", "One camera with its options (credentials masked) and status.", CAMERA_ID)
async def _get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return camera_view(conn.view, params["id"])


@method(
    "cameras.snapshot",
    "The latest snapshot as base64 JPEG, optionally downscaled.",
    CAMERA_ID,
    Param("width", _width, "integer", "downscale to this width (pixels, 16-7680)", required=False),
    Param(
        "max_age",
        _max_age,
        "number",
        "refuse a snapshot older than this (seconds, 0-86400): error -32006, data.error stale_snapshot",
        required=False,
    ),
)
async def _snapshot(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    cam_id = params["id"]
    snap = fresh_snapshot(conn.view, cam_id, params.get("max_age"))
    jpeg, width, height = snap.jpeg, snap.width, snap.height
    wanted = params.get("width")
    if wanted is not None and wanted < snap.width:
        jpeg = await IMAGES.run(downscale, snap.jpeg, wanted, conn.view.camera(cam_id).snapshot.quality)
        width, height = wanted, max(2, round(snap.height * wanted / snap.width))  # as downscale
    return {
        "camera": cam_id,
        "content_type": "image/jpeg",
        "width": width,
        "height": height,
        "taken_at": iso_utc(snap.taken_at),
        "jpeg": base64.b64encode(jpeg).decode("ascii"),
    }


@method("cameras.snapshot_now", "Take a fresh snapshot from the next keyframe.", CAMERA_ID)
async def _snapshot_now(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    conn.control.request_snapshot(params["id"])
    return {"camera": params["id"], "requested": True}


@method(
    "cameras.add",
    "Add a camera (persisted; started at once); returns it.",
    Param("id", text_param, "string", "camera id (default: from name)", required=False),
    Param("name", text_param, "string", "display name", required=False),
    more_params="the camera's options as in the configuration's cameras section "
    "(url or device, snapshot, transport, ...)",
)
async def _add(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return camera_view(conn.view, await conn.control.add_camera(params))


@method(
    "cameras.update",
    "Change options of a camera added through the API (restarts only it).",
    CAMERA_ID,
    Param("changes", object_param, "object", "options to change (snapshot merged key by key)"),
)
async def _update(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return camera_view(conn.view, await conn.control.update_camera(params["id"], params["changes"]))


@method("cameras.remove", "Stop and forget a camera added through the API.", CAMERA_ID)
async def _remove(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.remove_camera(params["id"])
    return {"id": params["id"], "removed": True}


@method(
    "events.subscribe",
    "Receive events as `event` notifications; returns a subscription id.",
    Param(
        "types",
        _text_list,
        "array of strings",
        "event types, e.g. camera.status, camera.removed (default: all)",
        required=False,
    ),
    operation="events",
)
async def _subscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    types = params.get("types")
    return {"subscription": conn.subscribe(types), "types": sorted(set(types)) if types else None}


@method(
    "events.unsubscribe",
    "Stop a subscription.",
    Param("subscription", text_param, "string", "id returned by events.subscribe"),
    operation="events",
)
async def _unsubscribe(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    sub_id = params["subscription"]
    if sub_id not in conn.subscriptions:
        raise NotFound(f"no subscription {sub_id}")
    conn.unsubscribe(sub_id)
    return {"subscription": sub_id, "unsubscribed": True}


#: JSON-RPC code -> meaning, listed by ``rpc.discover`` (the codes live in ``errors.py``)
ERRORS = RPC_CODES

__all__ = ["METHODS", "Connection", "Method", "Param", "RpcError", "method", "setup", "websocket"]
