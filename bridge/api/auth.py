"""Authentication and roles for the API: API keys, JWT bearer tokens, the auth middleware.

Credentials
    ``Authorization: Bearer <api key or JWT>`` or ``X-API-Key: <api key>``; without either, a
    browser's session cookie (:mod:`bridge.api.session`, CSRF token required on changes).

    *API keys* are ``cb_`` + 32 random bytes (URL-safe base64), made by ``camera-bridge api-key``;
    the configuration holds only their ``sha256:<hex>`` hash (``api.keys[]``), compared with
    :func:`hmac.compare_digest`. *JWTs* are HS256, signed with ``api.jwt_secret``, and must carry
    ``exp``, ``sub`` (the caller's name) and ``role`` (``viewer``, ``operator`` or ``admin``).

Roles (each includes the ones before it)
    ``viewer``: read cameras, snapshots, MJPEG, events; ``operator``: + commands (snapshot now);
    ``admin``: + registry changes (add, change, remove cameras).

Which role an operation needs: **one table**, :data:`ROUTE_ROLES`, keyed by operation name
    (``cameras.add``, ...): a REST route's name, which the JSON-RPC method doing the same
    shares (``rpc.method`` looks its role up here, so REST and RPC cannot disagree). For a route,
    :func:`route_role` is the rule:

    1. :data:`ROUTE_ROLES` is the table for every route of this package;
    2. a route not in the table may declare its role on its handler with :func:`requires`,
       :func:`public` or :func:`self_authenticating` (for plug-in route modules);
    3. anything else needs ``admin`` (fail closed), as do unmatched paths (404/405).

When auth is not required (loopback with ``auth: auto``, or ``auth: off``) callers without
credentials act as ``admin``; a credential that *is* presented is still checked (a wrong one is
401) and its role applies. Keys, tokens and the JWT secret are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from ..config import ROLES, ApiConfig
from ..core.errors import BridgeError
from ..redact import redact
from .errors import json_error
from .keys import CONFIG
from .session import session_principal

if TYPE_CHECKING:
    from ..config import Config

_LOGGER = logging.getLogger(__name__)

KEY_PREFIX = "cb_"
HASH_PREFIX = "sha256:"
#: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``
JWT_LEEWAY = 5
#: a route anyone may call, credentials or not (health probes)
PUBLIC = "public"
#: a route whose handler authenticates the caller itself (the WebSocket: header or first message)
SELF = "self"
#: the caller without credentials when auth is not required
ANONYMOUS_NAME = "anonymous"

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

#: the role each operation needs, by name: the REST route's name, used by the JSON-RPC method of
#: the same operation too (``rpc.method(..., operation=...)`` when the method's name differs);
#: the one table for this package's routes and methods
ROUTE_ROLES: dict[str, str] = {
    "rpc.discover": PUBLIC,  # JSON-RPC only: what a connection may call
    "auth": PUBLIC,  # JSON-RPC only: authenticate the connection
    "health.alive": PUBLIC,
    "health.ready": PUBLIC,
    "cameras.list": "viewer",
    "cameras.get": "viewer",
    "cameras.snapshot": "viewer",
    "cameras.mjpeg": "viewer",
    "events": "viewer",
    "health.cameras": "viewer",
    "metrics": "viewer",
    "openapi": "viewer",
    "session.get": PUBLIC,
    "session.login": SELF,
    "session.logout": SELF,
    "web.page": PUBLIC,
    "web.static": PUBLIC,
    "cameras.probe": "admin",
    "cameras.snapshot_now": "operator",
    "cameras.add": "admin",
    "cameras.update": "admin",
    "cameras.remove": "admin",
    "bridge.get": "viewer",
    "bridge.discovery": "admin",
    "bridge.reload": "admin",
    "cameras.detection": "viewer",
    "cameras.detection_snapshot": "viewer",
    "cameras.clips": "viewer",
    "events.get": "viewer",
    "events.snapshot": "viewer",
    "events.clip": "viewer",
    "cameras.set_detection": "operator",
    "cameras.set_enabled": "operator",
    "rpc": SELF,
    "detect": "operator",
    "health.mediamtx": "viewer",
    "cameras.recording": "viewer",
    "cameras.recordings": "viewer",
    "cameras.set_recording": "operator",
    "usb.devices": "viewer",
    "timelapses.list": "viewer",
    "timelapses.get": "viewer",
    "timelapses.frames": "viewer",
    "timelapses.frame": "viewer",
    "timelapses.thumbnail": "viewer",
    "timelapses.videos": "viewer",
    "timelapses.video": "viewer",
    "timelapses.video_thumbnail": "viewer",
    "timelapses.action": "operator",
    "timelapses.add": "admin",
    "timelapses.update": "admin",
    "timelapses.remove": "admin",
    "links.create": "operator",
}
DEFAULT_ROLE = "admin"

#: the handler attribute :func:`requires`, :func:`public` and :func:`self_authenticating` set
ROLE_ATTR = "__bridge_role__"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``name`` (key name, JWT ``sub`` or ``anonymous``), ``role``,
    ``method`` (``api_key``, ``jwt``, ``session`` or ``anonymous``) and, for a JWT, ``expires``:
    the Unix time after which it is no longer accepted (its ``exp`` plus the leeway)."""

    name: str
    role: str
    method: str
    expires: float | None = None
    #: the only camera ids this principal may see (``None``: all); others answer 404
    cameras: frozenset[str] | None = None

    def sees(self, camera: str) -> bool:
        """Whether this principal may see and use camera ``camera``."""
        return self.cameras is None or camera in self.cameras

    @property
    def authenticated(self) -> bool:
        """Whether the caller presented a valid credential (not the anonymous admin)."""
        return self.method != "anonymous"

    def allows(self, role: str) -> bool:
        """Whether this principal has ``role`` or a higher one."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = Principal(ANONYMOUS_NAME, "admin", "anonymous")

#: where :func:`auth_middleware` keeps the caller on a request: ``request.get(PRINCIPAL)`` is its
#: :class:`Principal`, or None when unknown. A typed ``web.RequestKey`` (aiohttp >= 3.13: no
#: ``NotAppKeyWarning``); on an older aiohttp, which has none, the string ``"principal"``.
PRINCIPAL: Any = web.RequestKey("principal", Principal) if hasattr(web, "RequestKey") else "principal"


# ---------------------------------------------------------------------------------------------
# keys


def generate_key() -> str:
    """A new API key: ``cb_`` + 32 random bytes, URL-safe base64 (no padding)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The configuration form of ``key``: ``sha256:<64 hex digits>``."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _match_key(config: ApiConfig, key: str) -> Principal | None:
    digest = hash_key(key).encode()
    found = None
    for entry in config.keys:  # every entry compared, no early exit
        if hmac.compare_digest(digest, entry.hash.encode()) and found is None:
            found = Principal(
                entry.name, entry.role, "api_key", cameras=None if entry.cameras is None else frozenset(entry.cameras)
            )
    return found


# ---------------------------------------------------------------------------------------------
# JWT


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(KEY_PREFIX)


def _verify_jwt(config: ApiConfig, token: str) -> Principal | str:
    """The token's principal, or why it is refused (messages never quote the token)."""
    if not config.jwt_secret:
        return "JWT bearer tokens are not enabled (no api.jwt_secret)"
    import jwt  # only when JWTs are enabled: PyJWT costs ~9 MiB of RSS (docs/performance.md)

    try:
        claims = jwt.decode(
            token,
            config.jwt_secret,
            algorithms=["HS256"],
            leeway=JWT_LEEWAY,
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        return "token expired"
    except jwt.MissingRequiredClaimError as err:
        return f"token has no {err.claim!r} claim"
    except jwt.InvalidSignatureError:
        return "token signature is invalid"
    except jwt.ImmatureSignatureError:
        return "token is not valid yet"
    except jwt.InvalidAlgorithmError:
        return "token algorithm must be HS256"
    except jwt.InvalidTokenError:
        return "token is malformed or invalid"
    role, sub = claims.get("role"), claims.get("sub")
    if role not in ROLES:
        return "token role must be one of " + ", ".join(ROLES)
    if not isinstance(sub, str) or not sub:
        return "token sub must be a non-empty string"
    cameras = claims.get("cameras")
    if cameras is not None and not (
        isinstance(cameras, list) and cameras and all(isinstance(c, str) and c for c in cameras)
    ):
        return "token cameras must be a non-empty list of camera ids"
    return Principal(
        sub,
        role,
        "jwt",
        expires=float(claims["exp"]) + JWT_LEEWAY,
        cameras=None if cameras is None else frozenset(cameras),
    )


# ---------------------------------------------------------------------------------------------
# credentials


def _api_config(config: ApiConfig | Config) -> ApiConfig:
    return config if isinstance(config, ApiConfig) else config.api


def _bearer(value: str) -> str | None:
    """The token of ``Bearer <token>``; a bare token as is; ``None`` for another scheme."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if not rest:
        return value if value and " " not in value else None
    return rest.strip() if scheme.lower() == "bearer" else None


def verify(config: ApiConfig | Config, credential: str) -> Principal | str:
    """Check ``credential`` (``Bearer <token>`` or a bare key/JWT): its principal, or a reason
    for refusing it that never quotes it."""
    config = _api_config(config)
    token = _bearer(credential)
    if not token:
        return "empty credential or unsupported Authorization scheme (expected Bearer <token>)"
    principal = _match_key(config, token)
    if principal is not None:
        return principal
    if _looks_like_jwt(token):
        return _verify_jwt(config, token)
    return "unknown API key"


def authenticate(config: ApiConfig | Config, credential: str | None) -> Principal | None:
    """The principal for an ``Authorization`` header value (``Bearer <api key or JWT>``) or a
    bare key/JWT; ``None`` when it is missing or not valid."""
    if not credential:
        return None
    result = verify(config, credential)
    return result if isinstance(result, Principal) else None


def presented_credential(request: web.Request) -> str | None:
    """What the request presents: the ``Authorization`` header, else ``X-API-Key``; ``None``
    when neither is sent."""
    header = request.headers.get("Authorization")
    if header is not None:
        return header
    key = request.headers.get("X-API-Key")
    return None if key is None else key.strip()


def _config(app: web.Application) -> ApiConfig:
    return app[CONFIG]


def auth_required(app: web.Application) -> bool:
    """Whether callers of ``app`` must authenticate (``api.auth`` and the listen address)."""
    return _config(app).auth_required


def authenticate_request(request: web.Request) -> Principal | None:
    """The caller of ``request`` from its headers: the principal of a valid presented credential,
    :data:`ANONYMOUS` (admin) when none is presented and auth is not required, else ``None``
    (no credential while auth is required, or an invalid one)."""
    credential = presented_credential(request)
    if credential is None:
        return None if auth_required(request.app) else ANONYMOUS
    return authenticate(_config(request.app), credential)


def authenticate_token(app: web.Application, token: str | None) -> Principal | None:
    """The principal for ``token`` (an API key or JWT, with or without ``Bearer ``), e.g. from
    a WebSocket's first message; ``None`` when it is missing or not valid."""
    return authenticate(_config(app), token)


# ---------------------------------------------------------------------------------------------
# roles of routes


def requires(role: str) -> Callable[[F], F]:
    """Mark a handler as needing ``role`` (used when its route is not in :data:`ROUTE_ROLES`)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}, expected one of {', '.join(ROLES)}")

    def mark(handler: F) -> F:
        setattr(handler, ROLE_ATTR, role)
        return handler

    return mark


def public(handler: F) -> F:
    """Mark a handler as callable without credentials (used when not in :data:`ROUTE_ROLES`)."""
    setattr(handler, ROLE_ATTR, PUBLIC)
    return handler


def self_authenticating(handler: F) -> F:
    """Mark a handler that authenticates the caller itself (a WebSocket taking the token in its
    first message); the middleware still refuses an invalid presented credential."""
    setattr(handler, ROLE_ATTR, SELF)
    return handler


def route_role(request: web.Request) -> str:
    """The role ``request``'s route needs, :data:`PUBLIC` or :data:`SELF` (see the module doc)."""
    route = request.match_info.route
    resource = route.resource
    name = resource.name if resource is not None else None
    if name is not None and name in ROUTE_ROLES:
        return ROUTE_ROLES[name]
    if resource is not None:
        role = getattr(route.handler, ROLE_ATTR, None)
        if role is not None:
            return role
    return DEFAULT_ROLE


def unlisted_routes(app: web.Application) -> list[str]:
    """Names (or paths) of ``app``'s routes that fall to the admin default: neither in
    :data:`ROUTE_ROLES` nor marked on their handler."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        name = resource.name if resource is not None else None
        if name in ROUTE_ROLES or hasattr(route.handler, ROLE_ATTR):
            continue
        label = name or (resource.canonical if resource is not None else "?")
        if label not in found:
            found.append(label)
    return found


# ---------------------------------------------------------------------------------------------
# middleware


def _unauthorized(message: str, invalid: bool) -> web.Response:
    challenge = 'Bearer realm="camera-bridge"' + (', error="invalid_token"' if invalid else "")
    return json_error(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the caller, store it as ``request[PRINCIPAL]`` and check the route's
    role: 401 (``WWW-Authenticate: Bearer``) without a valid credential, 403 when the role is
    too low. Public routes never answer 401/403 (``principal`` is ``None`` when unknown)."""
    # imported here: budget imports ratelimit, which imports this module
    from .budget import budget
    from .links import verify as verify_link
    from .tls import principal as client_cert_principal

    config = _config(request.app)
    role = route_role(request)
    credential = presented_credential(request)
    principal: Principal | None = None
    if credential is not None:
        budgets = budget(request.app)
        wait = budgets.auth_wait(request.remote) if role != PUBLIC else 0.0
        if wait > 0:
            retry = max(1, math.ceil(wait))
            return json_error(
                429,
                "rate_limited",
                f"too many failed authentications from {request.remote}; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )
        result = verify(config, credential)
        if isinstance(result, Principal):
            principal = result
        elif role != PUBLIC:
            budgets.auth_failed(request.remote)
            _LOGGER.info(
                "api: %s %s from %s refused: %s", request.method, redact(request.rel_url.path), request.remote, result
            )
            return _unauthorized(result, invalid=True)
    elif (session := session_principal(request)) is not None:  # a browser's session cookie
        if isinstance(session, str):
            if role != PUBLIC:
                return json_error(403, "csrf_failed", session)
        else:
            principal = session
    elif (cert := client_cert_principal(request, config.tls)) is not None:  # mTLS (tls.py)
        principal = cert
    elif (link := verify_link(request)) is not None:  # a signed link (links.py)
        if isinstance(link, str):
            if role != PUBLIC:
                budget(request.app).auth_failed(request.remote)
                _LOGGER.info(
                    "api: %s %s from %s refused: %s", request.method, redact(request.rel_url.path), request.remote, link
                )
                return _unauthorized(link, invalid=True)
        else:
            principal = link
    elif not config.auth_required:
        principal = ANONYMOUS
    request[PRINCIPAL] = principal
    if role in (PUBLIC, SELF):
        return await handler(request)
    if principal is None:
        return _unauthorized(
            "authentication required: send Authorization: Bearer <API key or JWT> or X-API-Key: <API key>",
            invalid=False,
        )
    if not principal.allows(role):
        _LOGGER.info(
            "api: %s %s by %s (%s) forbidden: needs %s",
            request.method,
            redact(request.rel_url.path),
            principal.name,
            principal.role,
            role,
        )
        return json_error(403, "forbidden", f"this needs the {role} role; {principal.name} is {principal.role}")
    if principal.cameras is not None:
        refusal = _camera_limit(request, principal)
        if refusal is not None:
            return refusal
    return await handler(request)


#: routes that show every camera at once: not for a principal limited to some cameras
ALL_CAMERA_ROUTES = frozenset({"metrics", "health.mediamtx", "bridge.get", "bridge.discovery", "usb.devices"})


def event_camera(request: web.Request, event_id: str) -> str | None:
    """The camera of a recent detection event (``/api/events/{event}``); None when unknown
    (its handler answers that)."""
    from .keys import VIEW

    try:
        camera = request.app[VIEW].event(event_id).get("camera")
    except BridgeError:
        return None
    return camera if isinstance(camera, str) else None


def _camera_limit(request: web.Request, principal: Principal) -> web.Response | None:
    """404 for a camera route naming a camera ``principal`` may not see (as for a camera that
    does not exist: ids do not leak); 403 for routes about every camera at once."""
    resource = request.match_info.route.resource
    name = resource.name if resource is not None else None
    cam_id = request.match_info.get("id")
    if name is not None and name.startswith("cameras.") and cam_id is not None and not principal.sees(cam_id):
        return json_error(404, "not_found", f"no camera {cam_id}")
    if name is not None and name.startswith("timelapses.") and cam_id is not None:
        from .keys import VIEW

        try:
            camera = request.app[VIEW].timelapse(cam_id).get("camera")
        except BridgeError:  # no such timelapse: its handler answers that
            camera = None
        if camera is not None and not principal.sees(camera):  # as if it did not exist
            return json_error(404, "not_found", f"no timelapse {cam_id}")
    event_id = request.match_info.get("event")
    if name is not None and name.startswith("events.") and event_id is not None:
        camera = event_camera(request, event_id)
        if camera is not None and not principal.sees(camera):  # as if it did not exist
            return json_error(404, "not_found", f"no event {event_id}")
    if name in ALL_CAMERA_ROUTES:
        return json_error(403, "forbidden", f"{principal.name} is limited to some cameras; this shows every camera")
    return None


__all__ = [
    "ANONYMOUS",
    "PRINCIPAL",
    "PUBLIC",
    "ROUTE_ROLES",
    "SELF",
    "Principal",
    "auth_middleware",
    "auth_required",
    "authenticate",
    "authenticate_request",
    "authenticate_token",
    "event_camera",
    "generate_key",
    "hash_key",
    "public",
    "requires",
    "route_role",
    "self_authenticating",
    "unlisted_routes",
    "verify",
]
