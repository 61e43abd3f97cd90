"""The web page: ``GET /`` and its assets under ``/static/`` (``bridge/web/static``).

The page is a client of the API like any other (REST, Server-Sent Events, MJPEG). Only files
shipped in the package are served, looked up by name in a table made at start (no path from a
request ever reaches the file system). Versioned library files (``vendor/*-X.Y.Z.*``) are cached
for a year; the page's own files are revalidated (``ETag``, ``304``).

The page's Content-Security-Policy lets it run and load only what its own bridge serves; with
MediaMTX it may also frame MediaMTX's WebRTC and HLS player pages (``frame-src``: the origins of
``mediamtx.webrtc_url`` and ``mediamtx.hls_url``, and for a loopback one the same port on the
host the page was opened with, as the page rewrites it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from .errors import ApiError
from .keys import VIEW

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: a file named with its version is never changed under that name
VERSIONED = re.compile(r"-\d+\.\d+\.\d+\.")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: the page runs only its own scripts and talks only to its own bridge
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "script-src 'self'; style-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Asset:
    """A file of the page: its bytes, content type, ETag and Cache-Control."""

    body: bytes
    content_type: str
    etag: str
    cache: str


def load_assets(root: Path = STATIC) -> dict[str, Asset]:
    """Every file under ``root`` by its path relative to it (``vendor/htm-3.1.1.module.js``)."""
    assets = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in TYPES:
            continue
        name = path.relative_to(root).as_posix()
        body = path.read_bytes()
        etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
        cache = IMMUTABLE if VERSIONED.search(path.name) else REVALIDATE
        assets[name] = Asset(body, TYPES[path.suffix], etag, cache)
    return assets


ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("web_assets", dict)


def setup(app: web.Application) -> None:
    """Add ``/`` and ``/static/{name}``."""
    app[ASSETS] = load_assets()
    app.router.add_get("/", page, name="web.page")
    app.router.add_get("/static/{name:[A-Za-z0-9_./-]{1,200}}", static, name="web.static")


def _serve(request: web.Request, asset: Asset) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache, **SECURITY_HEADERS}
    if asset.etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body,
        content_type=asset.content_type,
        charset="utf-8" if asset.content_type.startswith("text/") else None,
        headers=headers,
    )


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _origin(scheme: str, host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def player_origins(request: web.Request) -> list[str]:
    """The origins of MediaMTX's player pages the page may frame (``scheme://host[:port]``;
    none without MediaMTX): those of ``mediamtx.webrtc_url`` and ``mediamtx.hls_url`` and, for
    a loopback one, the same scheme and port on the host of ``request`` (the page, opened from
    another machine, shows MediaMTX's players from the bridge's host)."""
    view = request.app.get(VIEW)
    media = view.config.mediamtx if view is not None else None
    if media is None or not media.enabled:
        return []
    origins: list[str] = []
    for base in (media.webrtc_url, media.hls_url):
        url = urlsplit(base)
        if not url.hostname:
            continue
        found = [_origin(url.scheme, url.hostname, url.port)]
        here = request.url.host
        if url.hostname in LOOPBACK and here and here.strip("[]") not in LOOPBACK:
            found.append(_origin(url.scheme, here.strip("[]"), url.port))
        origins += [o for o in found if o not in origins]
    return origins


async def page(request: web.Request) -> web.Response:
    """The page (``index.html``); public: it asks for an API key when the API needs one. With
    MediaMTX its CSP lets it frame MediaMTX's players (:func:`player_origins`)."""
    response = _serve(request, request.app[ASSETS]["index.html"])
    origins = player_origins(request)
    if origins:
        csp = SECURITY_HEADERS["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = f"{csp}; frame-src {' '.join(origins)}"
    return response


async def static(request: web.Request) -> web.Response:
    """One asset of the page by name; ``404`` for any other name."""
    name = request.match_info["name"]
    asset = request.app[ASSETS].get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no file {name[:200]} in the web page")
    return _serve(request, asset)


__all__ = ["load_assets", "setup"]
