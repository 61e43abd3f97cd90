"""The audit log of the API: one structured line per call that changes something, over REST or
JSON-RPC, written with :func:`bridge.core.audit.record` (the line's fields are documented there;
REST adds ``method``).

Mutating calls are REST requests other than GET/HEAD/OPTIONS (refused ones included: 401, 403,
429) and JSON-RPC methods that need the ``operator`` or ``admin`` role. Never a secret: no
credential, no body, no query string; ids are clipped to
:data:`~bridge.core.audit.MAX_TEXT` characters. A reload asked through the API adds its ``outcome``
(``applied``, ``unchanged``, ``rejected``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..core.audit import record, reload_fields

READS = frozenset({"GET", "HEAD", "OPTIONS"})
MUTATING_ROLES = frozenset({"operator", "admin"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def who(principal: Any) -> str:
    """``<method>:<name>`` of a principal or caller; ``unauthenticated`` for None."""
    if principal is None:
        return "unauthenticated"
    method = getattr(principal, "method", "?")
    return "anonymous" if method == "anonymous" else f"{method}:{getattr(principal, 'name', '?')}"


def _answer(response: web.StreamResponse | None) -> dict[str, Any]:
    """A small JSON object answer (the camera a ``POST /api/cameras`` created, a reload's
    result); empty for any other."""
    body = getattr(response, "body", None)
    if response is None or not isinstance(body, bytes) or len(body) > 65536:
        return {}
    if response.content_type != "application/json":
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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
        extra: dict[str, Any] = {"method": request.method}
        if name.startswith("timelapses.") and "id" in request.match_info:
            extra["timelapse"] = request.match_info["id"]
        if camera is None and name == "cameras.add":
            camera = _answer(response).get("id")
        if name == "bridge.reload" and status == 200:
            extra.update(reload_fields(_answer(response)))
        record("rest", who(request.get(PRINCIPAL)), request.remote, name, camera, status, **extra)


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
    extra: dict[str, Any] = {}
    if method.name == "bridge.reload" and isinstance(reply.get("result"), dict):
        extra = reload_fields(reply["result"])
    elif method.name.startswith("timelapses.") and isinstance(params, dict) and isinstance(params.get("id"), str):
        extra = {"timelapse": params["id"]}
    record("rpc", who(conn.caller), conn.remote, method.name, camera, result, **extra)


__all__ = ["audit_middleware", "record", "rpc_call", "who"]
