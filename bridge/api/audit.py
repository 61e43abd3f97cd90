"""The audit log: one structured line per call that changes something, over REST or JSON-RPC.

Each line is logged by the ``bridge.audit`` logger at INFO as ``audit {json}``, the JSON object
holding:

``via``
    ``rest`` or ``rpc``
``who``
    ``api_key:<name>``, ``jwt:<sub>``, ``session:<name>``, ``anonymous`` (auth not required) or
    ``unauthenticated`` (refused)
``client``
    the client's address
``what``
    the operation (route name or JSON-RPC method, e.g. ``cameras.add``); REST adds ``method``
``camera``
    the camera's id when the call names one (path, params or the created camera), else null
``result``
    REST: the HTTP status; JSON-RPC: ``ok`` or the error code

Mutating calls are REST requests other than GET/HEAD/OPTIONS (refused ones included: 401, 403,
429) and JSON-RPC methods that need the ``operator`` or ``admin`` role. Never a secret: no
credential, no body, no query string; ids are clipped to :data:`MAX_ID` characters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .wire import clip

_LOGGER = logging.getLogger("bridge.audit")

MAX_ID = 64  #: characters of a camera id kept in an audit line
READS = frozenset({"GET", "HEAD", "OPTIONS"})
MUTATING_ROLES = frozenset({"operator", "admin"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def who(principal: Any) -> str:
    """``<method>:<name>`` of a principal or caller; ``unauthenticated`` for None."""
    if principal is None:
        return "unauthenticated"
    method = getattr(principal, "method", "?")
    return "anonymous" if method == "anonymous" else f"{method}:{getattr(principal, 'name', '?')}"


def record(via: str, who: str, client: str | None, what: str, camera: Any, result: Any, **extra: Any) -> None:
    """Log one audit line (see the module doc)."""
    entry: dict[str, Any] = {
        "via": via,
        "who": who,
        "client": client,
        "what": what,
        **extra,
        "camera": clip(camera, MAX_ID) if isinstance(camera, str) else None,
        "result": result,
    }
    _LOGGER.info("audit %s", json.dumps(entry, ensure_ascii=True))


def _created_id(response: web.StreamResponse) -> str | None:
    """The ``id`` of a small JSON answer (the camera a ``POST /api/cameras`` created)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or len(body) > 65536 or response.content_type != "application/json":
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every REST call that is not a read (GET/HEAD/OPTIONS) with its result."""
    if request.method in READS:
        return await handler(request)
    from .auth import PRINCIPAL

    status: Any = 500
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        name = resource.name if resource is not None and resource.name else "unmatched"
        camera = request.match_info.get("id") if name.startswith("cameras.") else None
        if camera is None and name == "cameras.add" and response is not None:
            camera = _created_id(response)
        record("rest", who(request.get(PRINCIPAL)), request.remote, name, camera, status, method=request.method)


def rpc_call(conn: Any, method: Any, params: Any, reply: dict[str, Any]) -> None:
    """Log a JSON-RPC call of a method that needs the operator or admin role (``method`` a
    ``rpc.Method``; ``reply`` its reply object)."""
    if method is None or method.role not in MUTATING_ROLES:
        return
    camera = None
    if method.name.startswith("cameras.") and isinstance(params, dict):
        camera = params.get("id")
    elif method.name.startswith("cameras.") and isinstance(params, list) and params:
        camera = params[0]
    if camera is None and method.name == "cameras.add" and isinstance(reply.get("result"), dict):
        camera = reply["result"].get("id")
    result = "ok" if "result" in reply else reply.get("error", {}).get("code")
    record("rpc", who(conn.caller), conn.remote, method.name, camera, result)


__all__ = ["audit_middleware", "record", "rpc_call", "who"]
