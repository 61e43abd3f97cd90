"""Browser sessions: log in once with an API key, then a session cookie authenticates.

``POST /api/session`` with ``{"key": "<API key>"}`` checks the key like the ``X-API-Key``
header and answers with a session: the cookie ``cb_session`` (``HttpOnly``, ``SameSite=Strict``,
``Secure`` when the request came over TLS, ``Max-Age`` :data:`SESSION_TTL`) and, in the body, the
session's CSRF token. Its role is the key's role. ``<img>``, MJPEG and ``EventSource`` then work
without a token in any URL. A request authenticated by the cookie that changes something (any
method but GET, HEAD, OPTIONS) must send the CSRF token in ``X-CSRF-Token``, else ``403
csrf_failed``. ``GET /api/session`` tells who the caller is (and the CSRF token of its session);
``DELETE /api/session`` logs out.

Sessions live in memory (a restart logs everyone out), at most :data:`MAX_SESSIONS` (the oldest
is dropped first); only a hash of each cookie is kept. Keys, cookies and CSRF tokens are never
logged. The auth middleware (``auth.py``) asks :func:`session_principal` when a request presents
no ``Authorization``/``X-API-Key`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .errors import ApiError, json_error

_LOGGER = logging.getLogger(__name__)

COOKIE = "cb_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = 12 * 3600  #: seconds a session lasts from its login
MAX_SESSIONS = 256  #: sessions kept at once; a new one beyond drops the oldest
MAX_KEY_LENGTH = 512  #: characters of a login key read at most
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    """One logged-in browser: its ``principal`` (an ``auth.Principal`` with method
    ``session``), ``csrf`` token and ``expires`` (seconds since the epoch)."""

    principal: Any
    csrf: str
    expires: float


class Sessions:
    """The live sessions, keyed by the SHA-256 of their cookie value (bounded, expiring)."""

    def __init__(self, ttl: float = SESSION_TTL, limit: int = MAX_SESSIONS) -> None:
        self._ttl = ttl
        self._limit = limit
        self._by_hash: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_hash)

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def create(self, principal: Any) -> tuple[str, Session]:
        """A new session for ``principal``: ``(cookie value, session)``."""
        from .auth import Principal

        token = secrets.token_urlsafe(32)
        session = Session(
            Principal(principal.name, principal.role, "session", cameras=getattr(principal, "cameras", None)),
            secrets.token_urlsafe(24),
            time.time() + self._ttl,
        )
        self._by_hash[self._hash(token)] = session
        while len(self._by_hash) > self._limit:
            self._by_hash.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of cookie value ``token``; None when unknown or expired."""
        if not token or len(token) > 128:
            return None
        key = self._hash(token)
        session = self._by_hash.get(key)
        if session is not None and session.expires <= time.time():
            del self._by_hash[key]
            return None
        return session

    def end(self, token: str | None) -> bool:
        """Forget the session of ``token``; whether there was one."""
        if not token or len(token) > 128:
            return False
        return self._by_hash.pop(self._hash(token), None) is not None


SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)


def _sessions(app: web.Application) -> Sessions:
    return app[SESSIONS]


def session_principal(request: web.Request) -> Any:
    """The principal of ``request``'s session cookie; ``None`` without a live session; a
    reason (str) when the session is valid but a changing request lacks its CSRF token."""
    sessions = request.app.get(SESSIONS)  # None: an application without the session routes
    session = sessions.get(request.cookies.get(COOKIE)) if sessions is not None else None
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf.encode()):
            return f"a request of a browser session that changes something needs its {CSRF_HEADER} header"
    return session.principal


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _view(request: web.Request) -> dict[str, Any]:
    from .auth import PRINCIPAL, auth_required

    principal = request.get(PRINCIPAL)
    session = _sessions(request.app).get(request.cookies.get(COOKIE))
    if session is not None and (principal is None or principal.method == "session"):
        principal = session.principal
    else:
        session = None
    return {
        "auth_required": auth_required(request.app),
        "authenticated": principal is not None and principal.authenticated,
        "name": principal.name if principal is not None else None,
        "role": principal.role if principal is not None else None,
        "method": principal.method if principal is not None else None,
        "csrf_token": session.csrf if session is not None else None,
        "expires_at": _iso(session.expires) if session is not None else None,
    }


async def get_session(request: web.Request) -> web.Response:
    """Who the caller is: ``{auth_required, authenticated, name, role, method, csrf_token,
    expires_at}`` (``role`` null: not logged in while auth is required)."""
    return web.json_response(_view(request), headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    """Log in with ``{"key": "<API key>"}``: sets the session cookie, answers the session."""
    from .auth import verify
    from .budget import budget
    from .keys import CONFIG

    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            400, "invalid_parameter", f"key: expected the API key as a string of 1 to {MAX_KEY_LENGTH} characters"
        )
    budgets = budget(request.app)  # failed logins count against the address, like bad keys
    wait = budgets.auth_wait(request.remote)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        return json_error(
            429,
            "rate_limited",
            f"too many failed authentications from {request.remote}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
    result = verify(request.app[CONFIG], key.strip())
    if isinstance(result, str) or result.method != "api_key":
        budgets.auth_failed(request.remote)
        reason = result if isinstance(result, str) else "log in with an API key (not a JWT)"
        _LOGGER.info("api: login from %s refused: %s", request.remote, reason)
        raise ApiError(401, "unauthorized", reason)
    sessions = _sessions(request.app)
    old = request.cookies.get(COOKIE)
    sessions.end(old)
    token, session = sessions.create(result)
    _LOGGER.info("api: %s (%s) logged in from %s", result.name, result.role, request.remote)
    body = {
        "auth_required": _view(request)["auth_required"],
        "authenticated": True,
        "name": result.name,
        "role": result.role,
        "method": "session",
        "csrf_token": session.csrf,
        "expires_at": _iso(session.expires),
    }
    response = web.json_response(body, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, token, max_age=SESSION_TTL, path="/", httponly=True, samesite="Strict", secure=request.secure
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the caller's session (if any) and clear its cookie: 204. A live session's logout
    needs its CSRF token, like every changing request."""
    token = request.cookies.get(COOKIE)
    found = session_principal(request)
    if isinstance(found, str):
        raise ApiError(403, "csrf_failed", found)
    if found is not None:
        _sessions(request.app).end(token)
        _LOGGER.info("api: %s logged out", found.name)
    response = web.Response(status=204, headers={"Cache-Control": "no-store"})
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.secure)
    return response


def setup(app: web.Application) -> None:
    """Add the session routes and the session store."""
    app[SESSIONS] = Sessions()
    app.router.add_get("/api/session", get_session, name="session.get")
    app.router.add_post("/api/session", login, name="session.login")
    app.router.add_delete("/api/session", logout, name="session.logout")


__all__ = ["COOKIE", "CSRF_HEADER", "SESSIONS", "SESSION_TTL", "Session", "Sessions", "session_principal", "setup"]
