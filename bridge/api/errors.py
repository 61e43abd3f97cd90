"""The one error table of the API: each error kind of ``bridge.core.errors`` -> HTTP status,
JSON-RPC code and error string. No other module converts errors: REST handlers and JSON-RPC
methods let a ``BridgeError`` propagate, the error middleware (``server.py``) and the JSON-RPC
dispatcher (``rpc.py``) answer it from :func:`answer_for`.

Every REST error is ``{"error": code, "message": text, ...}``; every JSON-RPC application error
``{"code": n, "message": text, "data": {"error": code, ...}}`` with the same ``code`` string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..core.errors import (
    BridgeError,
    Conflict,
    Forbidden,
    Invalid,
    MediamtxDisabled,
    MediamtxDown,
    NoSnapshot,
    NotFound,
    NotRunning,
    NotSaved,
    StaleSnapshot,
    Unavailable,
)

# JSON-RPC 2.0 standard codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# the bridge's application codes
NOT_FOUND = -32001
CONFLICT = -32002
INVALID_OPTIONS = -32003
UNAUTHORIZED = -32004
FORBIDDEN = -32005
NO_SNAPSHOT = -32006
LIMIT_REACHED = -32007
MEDIAMTX_DISABLED = -32008
MEDIAMTX_UNAVAILABLE = -32009
RATE_LIMITED = -32010

#: JSON-RPC code -> what it means (listed by ``rpc.discover``)
RPC_CODES: dict[int, str] = {
    PARSE_ERROR: "parse error",
    INVALID_REQUEST: "invalid request",
    METHOD_NOT_FOUND: "method not found",
    INVALID_PARAMS: "invalid params (data.param, data.errors)",
    INTERNAL_ERROR: "internal error",
    NOT_FOUND: "not found",
    CONFLICT: "conflict (exists, or defined in YAML)",
    INVALID_OPTIONS: "invalid camera options (data.errors)",
    UNAUTHORIZED: "not authenticated",
    FORBIDDEN: "role too low",
    NO_SNAPSHOT: "no snapshot yet (data.state)",
    LIMIT_REACHED: "too many subscriptions",
    MEDIAMTX_DISABLED: "MediaMTX is not enabled",
    MEDIAMTX_UNAVAILABLE: "MediaMTX does not answer",
    RATE_LIMITED: "rate limited (data.retry_after)",
}


@dataclass(frozen=True)
class Answer:
    """How the API answers one error kind: HTTP ``status``, JSON-RPC ``rpc_code``, ``error``
    string, and the error's attributes copied into the answer (``fields``)."""

    status: int
    rpc_code: int
    error: str
    fields: tuple[str, ...] = ()

    def extra(self, err: BridgeError) -> dict[str, Any]:
        """The error's ``fields`` (e.g. ``{"errors": [...]}``)."""
        return {name: getattr(err, name) for name in self.fields}


#: error kind -> answer; the most specific kind of an error's class wins (its MRO order)
ERROR_TABLE: dict[type[BridgeError], Answer] = {
    NotFound: Answer(404, NOT_FOUND, "not_found"),
    Conflict: Answer(409, CONFLICT, "conflict"),
    Invalid: Answer(400, INVALID_OPTIONS, "invalid_config", ("errors",)),
    Unavailable: Answer(503, INTERNAL_ERROR, "unavailable"),
    Forbidden: Answer(403, FORBIDDEN, "forbidden"),
    NoSnapshot: Answer(503, NO_SNAPSHOT, "no_snapshot", ("state",)),
    StaleSnapshot: Answer(503, NO_SNAPSHOT, "stale_snapshot", ("age", "taken_at", "state")),
    NotSaved: Answer(503, INTERNAL_ERROR, "store_unavailable"),
    NotRunning: Answer(503, INTERNAL_ERROR, "not_ready"),
    MediamtxDisabled: Answer(409, MEDIAMTX_DISABLED, "mediamtx_disabled"),
    MediamtxDown: Answer(503, MEDIAMTX_UNAVAILABLE, "mediamtx_unavailable"),
}


def answer_for(err: BaseException) -> Answer | None:
    """The table's answer for ``err`` (None: not a kind the API knows; it answers 500)."""
    for cls in type(err).__mro__:
        answer = ERROR_TABLE.get(cls)
        if answer is not None:
            return answer
    return None


def json_error(
    status: int, error: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """A JSON error response, e.g. ``json_error(404, "not_found", "no camera front_door")``."""
    return web.json_response({"error": error, "message": message, **extra}, status=status, headers=headers)


def error_response(err: BridgeError, answer: Answer) -> web.Response:
    """The REST answer for a domain error (see :func:`answer_for`)."""
    return json_error(answer.status, answer.error, str(err), **answer.extra(err))


class ApiError(Exception):
    """Raised by handlers for what only HTTP knows (a body that is not JSON, a bad query
    parameter, a missing upgrade): answered as JSON by the error middleware. Domain errors are
    ``BridgeError`` kinds instead, answered from :data:`ERROR_TABLE`."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return json_error(self.status, self.error, self.message, **self.extra)
