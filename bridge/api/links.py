"""Signed links: ``POST /api/links`` (operator) returns a URL of one camera's ``snapshot.jpg`` or
MJPEG stream, or of one detection event's snapshot or clip, that works without credentials until
it expires, so a notification or an ``<img>`` can show a picture without carrying an API key.

A link is the path plus ``?exp=<unix time>&kid=<key id>&sig=<HMAC-SHA256>``. ``kid`` names the
API key that made it (the first 16 hex digits of its configured hash: not a secret); the
signature covers the path, ``exp`` and ``kid``, keyed by HMAC(the bridge's link secret, that
key's hash). The link secret is 32 random bytes kept in ``<state dir>/link.key`` (mode 0600).
Removing the key from ``api.keys`` (and restarting) revokes every link it made; deleting
``link.key`` revokes all links. A link grants ``viewer`` on exactly its path, for its camera
(an event's camera for event media): the camera limit of the key that made it
(``api.keys[].cameras``) applies when it is made and each time it is opened (a camera the key
may no longer see is ``404``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from ..core.errors import Forbidden, NotFound
from ..files import write_atomic
from ..status import iso_utc
from .errors import ApiError

if TYPE_CHECKING:
    from ..config import ApiConfig

KINDS = {
    "snapshot": "/api/cameras/{camera}/snapshot.jpg",
    "mjpeg": "/api/cameras/{camera}/mjpeg",
    "event_snapshot": "/api/events/{event}/snapshot.jpg",
    "event_clip": "/api/events/{event}/clip.mp4",
}
EVENT_KINDS = frozenset({"event_snapshot", "event_clip"})  #: kinds that name an ``event``, not a ``camera``
ROUTES = {"cameras.snapshot", "cameras.mjpeg", "events.snapshot", "events.clip"}  #: routes a link may open
DEFAULT_TTL = 3600  #: seconds a link is valid when ``expires_in`` is not given
MAX_TTL = 7 * 86400  #: longest validity of a link, seconds
KEY_FILE = "link.key"
KEY_ID_LENGTH = 16


_SECRETS: weakref.WeakKeyDictionary[web.Application, bytes] = weakref.WeakKeyDictionary()


def _secret(app: web.Application) -> bytes:
    """The bridge's link secret (made on first use, kept in the state directory)."""
    found = _SECRETS.get(app)
    if found is None:
        from .keys import VIEW

        path = Path(app[VIEW].config.state_dir) / KEY_FILE
        try:
            found = base64.b64decode(path.read_bytes().strip(), validate=True)
        except (FileNotFoundError, ValueError):
            found = b""
        if len(found) < 32:
            found = secrets.token_bytes(32)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, base64.b64encode(found) + b"\n", mode=0o600)
        _SECRETS[app] = found
    return found


def key_id(key_hash: str) -> str:
    """The ``kid`` of an API key: the first 16 hex digits of its ``sha256:`` hash."""
    return key_hash.removeprefix("sha256:")[:KEY_ID_LENGTH]


def _signature(app: web.Application, key_hash: str, path: str, exp: int, kid: str) -> str:
    signing = hmac.new(_secret(app), key_hash.encode(), hashlib.sha256).digest()
    mac = hmac.new(signing, f"{path}\n{exp}\n{kid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _key_of(config: ApiConfig, principal: Any) -> Any:
    if getattr(principal, "method", None) not in ("api_key", "session"):
        raise Forbidden("signed links are made with an API key (or a session started with one), not a JWT")
    for entry in config.keys:
        if entry.name == principal.name:
            return entry
    raise Forbidden(f"no API key {principal.name} to sign the link with")


def verify(request: web.Request) -> Any:
    """The principal of a request opened through a signed link, or a reason (str) for refusing
    it; None when the request carries no link."""
    query = request.query
    if "sig" not in query:
        return None
    from .auth import Principal
    from .keys import CONFIG

    exp_text, kid, sig = query.get("exp", ""), query.get("kid", ""), query.get("sig", "")
    if not (
        exp_text.isascii()
        and exp_text.isdigit()
        and len(exp_text) <= 12
        and len(sig) <= 64
        and len(kid) == KEY_ID_LENGTH
    ):
        return "malformed signed link"
    resource = request.match_info.route.resource
    if resource is None or resource.name not in ROUTES or request.method not in ("GET", "HEAD"):
        return "a signed link opens only a camera's snapshot.jpg or mjpeg, or an event's snapshot.jpg or clip.mp4"
    entry = next((k for k in request.app[CONFIG].keys if key_id(k.hash) == kid), None)
    if entry is None:
        return "signed link revoked (its key is no longer configured)"
    expected = _signature(request.app, entry.hash, request.path, int(exp_text), kid)
    if not hmac.compare_digest(expected, sig):
        return "signed link signature is invalid"
    if int(exp_text) < time.time():
        return "signed link expired"
    if resource.name.startswith("events."):
        from .auth import event_camera

        camera = event_camera(request, request.match_info.get("event", "")) or ""
    else:
        camera = request.match_info.get("id", "")
    # the key's camera limit now (it may have changed since): another camera is 404
    allowed = frozenset({camera}) if entry.cameras is None or camera in entry.cameras else frozenset()
    return Principal(f"link:{entry.name}", "viewer", "link", cameras=allowed)


async def create(request: web.Request) -> web.Response:
    """``{camera, kind?: snapshot|mjpeg, expires_in?: seconds}`` or ``{event, kind:
    event_snapshot|event_clip, expires_in?}`` -> ``{url, path, camera, kind, kid, expires_at}``
    (201; ``event`` too for event media). 404 for a camera or event the caller may not see (or
    an event without that media)."""
    from .auth import PRINCIPAL, event_camera
    from .detection import EVENT_ID
    from .keys import CONFIG, VIEW

    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_parameter", "expected an object {camera or event, kind, expires_in}")
    kind, ttl = body.get("kind", "snapshot"), body.get("expires_in", DEFAULT_TTL)
    if not isinstance(kind, str) or kind not in KINDS:
        raise ApiError(400, "invalid_parameter", f"kind: expected one of {', '.join(KINDS)}")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL:
        raise ApiError(400, "invalid_parameter", f"expires_in: expected whole seconds from 1 to {MAX_TTL}")
    principal = request.get(PRINCIPAL)
    view = request.app[VIEW]
    event = body.get("event")
    if kind in EVENT_KINDS:
        if not isinstance(event, str) or not EVENT_ID.match(event):
            raise ApiError(400, "invalid_parameter", "event: expected an event id like 1764312687243-7")
        camera = event_camera(request, event)
        if camera is None or (principal is not None and not principal.sees(camera)):
            raise NotFound(f"no event {event}")
        media = view.event(event).get("snapshot_url" if kind == "event_snapshot" else "clip_url")
        if not media:
            raise NotFound(f"event {event} has no {'snapshot' if kind == 'event_snapshot' else 'clip'}")
    else:
        camera = body.get("camera")
        if not isinstance(camera, str) or not camera:
            raise ApiError(400, "invalid_parameter", "camera: expected a camera id")
        if camera not in view.camera_ids() or (principal is not None and not principal.sees(camera)):
            raise NotFound(f"no camera {camera}")
    entry = _key_of(request.app[CONFIG], principal)
    path = KINDS[kind].format(camera=camera, event=event)
    exp, kid = int(time.time()) + ttl, key_id(entry.hash)
    query = urlencode({"exp": exp, "kid": kid, "sig": _signature(request.app, entry.hash, path, exp, kid)})
    link = f"{path}?{query}"
    return web.json_response(
        {
            "url": str(request.url.with_path("/").with_query(None))[:-1] + link,
            "path": link,
            "camera": camera,
            **({"event": event} if kind in EVENT_KINDS else {}),
            "kind": kind,
            "kid": kid,
            "expires_at": iso_utc(exp),
        },
        status=201,
    )


def setup(app: web.Application) -> None:
    """Add ``POST /api/links``."""
    app.router.add_post("/api/links", create, name="links.create")


__all__ = ["create", "key_id", "setup", "verify"]
