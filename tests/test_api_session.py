"""Browser sessions (``/api/session``) and the connection test (``POST /api/cameras/probe``) on a
live bridge: the cookie's attributes, its role, the CSRF token on changing requests, logout,
expiry, refusals, and no key or cookie in the logs; the web page's files with cache headers."""

from __future__ import annotations

import logging
import time
from http.cookies import SimpleCookie

import aiohttp
import jwt
import pytest
from yarl import URL

from bridge.api import session as session_mod
from bridge.api.auth import generate_key, hash_key

from .conftest import make_config, running
from .test_api_cameras import base_url

LAVFI = "lavfi:testsrc2=size=320x240:rate=5"
KEYS = {role: generate_key() for role in ("viewer", "operator", "admin")}
KEY_CONFIG = [{"name": f"{role}-key", "hash": hash_key(key), "role": role} for role, key in KEYS.items()]
JWT_SECRET = "jwt-secret-for-the-session-tests-0123456789"


def config(broker, prefix, **api):
    return make_config(broker.port, prefix, {"cam": {"url": LAVFI}},
                       api={"auth": "required", "keys": KEY_CONFIG, "jwt_secret": JWT_SECRET, **api})


async def login(http: aiohttp.ClientSession, key: str) -> tuple[aiohttp.ClientResponse, dict]:
    resp = await http.post("/api/session", json={"key": key})
    return resp, await resp.json()


async def test_a_key_logs_in_once_and_the_cookie_carries_its_role(broker, prefix, caplog):
    caplog.set_level(logging.DEBUG)
    async with running(config(broker, prefix)) as bridge, \
            aiohttp.ClientSession(base_url(bridge), cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        before = await (await http.get("/api/session")).json()
        assert before == {"auth_required": True, "authenticated": False, "name": None, "role": None,
                          "method": None, "csrf_token": None, "expires_at": None}
        assert (await http.get("/api/cameras")).status == 401

        resp, body = await login(http, KEYS["operator"])
        assert resp.status == 200
        assert body["role"] == "operator" and body["name"] == "operator-key" and body["method"] == "session"
        raw = resp.headers["Set-Cookie"]
        cookie = SimpleCookie(raw)[session_mod.COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert int(cookie["max-age"]) == session_mod.SESSION_TTL
        assert not cookie["secure"]  # plain HTTP here; set over TLS (request.secure)
        token = cookie.value
        assert token not in (KEYS["operator"], body["csrf_token"])

        # the cookie alone authenticates reads: <img>, MJPEG and EventSource need nothing in the URL
        assert (await http.get("/api/cameras")).status == 200
        again = await (await http.get("/api/session")).json()
        assert again["role"] == "operator" and again["csrf_token"] == body["csrf_token"]
        # changing requests need the session's CSRF token
        refused = await http.post("/api/cameras/cam/snapshot")
        assert refused.status == 403 and (await refused.json())["error"] == "csrf_failed"
        wrong = await http.post("/api/cameras/cam/snapshot", headers={"X-CSRF-Token": "x" * 32})
        assert wrong.status == 403
        csrf = {"X-CSRF-Token": body["csrf_token"]}
        assert (await http.post("/api/cameras/cam/snapshot", headers=csrf)).status == 202
        # ... and the role is the key's: operator, not admin
        forbidden = await http.post("/api/cameras", json={"url": LAVFI}, headers=csrf)
        assert forbidden.status == 403 and (await forbidden.json())["error"] == "forbidden"

        # logout ends it: the old cookie is worth nothing afterwards
        assert (await http.delete("/api/session")).status == 403  # without its CSRF token
        out = await http.delete("/api/session", headers=csrf)
        assert out.status == 204 and "Max-Age=0" in out.headers["Set-Cookie"]
        replay = await http.get("/api/cameras", headers={"Cookie": f"{session_mod.COOKIE}={token}"})
        assert replay.status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "operator-key (operator) logged in" in logged and "operator-key logged out" in logged
    for secret in (*KEYS.values(), token, body["csrf_token"]):
        assert secret not in logged


async def test_wrong_keys_jwts_and_bad_bodies_do_not_log_in(broker, prefix, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = generate_key()
    async with running(config(broker, prefix)) as bridge, \
            aiohttp.ClientSession(base_url(bridge), cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp, body = await login(http, wrong)
        assert resp.status == 401 and body == {"error": "unauthorized", "message": "unknown API key"}
        assert "Set-Cookie" not in resp.headers
        token = jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
        resp, body = await login(http, token)
        assert resp.status == 401 and "API key" in body["message"]
        for bad in ({}, {"key": 5}, {"key": ""}, {"key": "k" * 600}, ["key"]):
            resp = await http.post("/api/session", json=bad)
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_parameter", bad
        resp = await http.post("/api/session", data=b"{", headers={"Content-Type": "application/json"})
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_json"
        assert len(bridge.api._app[session_mod.SESSIONS]) == 0  # noqa: SLF001 - the live app's store
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "login from" in logged and wrong not in logged and token not in logged


async def test_logins_are_rate_limited(broker, prefix):
    async with running(config(broker, prefix, rate_limit={"rate": 0.01, "burst": 3})) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        statuses = [(await login(http, generate_key()))[0].status for _ in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429, statuses


def test_sessions_expire_and_stay_bounded(monkeypatch):
    from bridge.api.auth import Principal

    sessions = session_mod.Sessions(ttl=60, limit=3)
    now = [1000.0]
    monkeypatch.setattr(session_mod.time, "time", lambda: now[0])
    token, made = sessions.create(Principal("tablet", "viewer", "api_key"))
    assert sessions.get(token) is made and made.principal.method == "session"
    now[0] += 59
    assert sessions.get(token) is made
    now[0] += 2
    assert sessions.get(token) is None and len(sessions) == 0
    tokens = [sessions.create(Principal(f"k{i}", "viewer", "api_key"))[0] for i in range(5)]
    assert len(sessions) == 3 and sessions.get(tokens[0]) is None and sessions.get(tokens[-1]) is not None
    assert sessions.get("x" * 500) is None and sessions.get(None) is None


async def test_without_auth_the_page_acts_as_admin_and_a_viewer_key_still_is_a_viewer(broker, prefix):
    cfg = make_config(broker.port, prefix, {"cam": {"url": LAVFI}}, api={"keys": KEY_CONFIG})  # loopback, auto
    async with running(cfg) as bridge, \
            aiohttp.ClientSession(base_url(bridge), cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        who = await (await http.get("/api/session")).json()
        assert who["auth_required"] is False and who["role"] == "admin" and who["method"] == "anonymous"
        resp, body = await login(http, KEYS["viewer"])
        assert resp.status == 200 and body["role"] == "viewer"
        csrf = {"X-CSRF-Token": body["csrf_token"]}
        assert (await http.post("/api/cameras/cam/snapshot", headers=csrf)).status == 403


async def test_probe_reports_what_the_bridge_sees_and_saves_nothing(broker, prefix, rtsp):
    cfg = make_config(broker.port, prefix, {"cam": {"url": LAVFI}})
    async with running(cfg) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.post("/api/cameras/probe", json={"id": "porch", "url": rtsp.url})
        body = await resp.json()
        assert resp.status == 200, body
        assert body["ok"] is True and (body["codec"], body["width"], body["height"]) == ("h264", 1280, 720)
        assert body["fps"] == pytest.approx(25, abs=1)
        resp = await http.post("/api/cameras/probe", json={"url": "rtsp://viewer:s3cret-pw@127.0.0.1:9/x"})
        body = await resp.json()
        assert resp.status == 200 and body["ok"] is False
        assert "cannot open rtsp://viewer:***@127.0.0.1:9/x" in body["error"] and "s3cret" not in body["error"]
        resp = await http.post("/api/cameras/probe", json={"id": "porch", "url": "ftp://x/y"})
        body = await resp.json()
        assert resp.status == 400 and body["errors"][0].startswith("cameras.porch.url: expected rtsp://")
        assert "porch" not in bridge.cameras and list(bridge.cameras) == ["cam"]


async def test_the_page_and_its_files_are_served_with_cache_headers(broker, prefix):
    cfg = make_config(broker.port, prefix, {"cam": {"url": LAVFI}}, api={"auth": "required", "keys": KEY_CONFIG})
    async with running(cfg) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        page = await http.get("/")  # public: it asks for the key itself
        assert page.status == 200 and page.content_type == "text/html"
        assert page.headers["Cache-Control"] == "no-cache" and "script-src 'self'" in page.headers["Content-Security-Policy"]
        again = await http.get("/", headers={"If-None-Match": page.headers["ETag"]})
        assert again.status == 304
        lib = await http.get("/static/vendor/preact-10.29.8.module.js")
        assert lib.status == 200 and lib.content_type == "text/javascript"
        assert "immutable" in lib.headers["Cache-Control"]
        app = await http.get("/static/app.js")
        assert app.status == 200 and app.headers["Cache-Control"] == "no-cache"
        for name in ("..%2Fconfig.py", "..%2F..%2Fapi%2Fauth.py", "nope.js"):  # sent as they are
            resp = await http.get(URL(f"{base_url(bridge)}/static/{name}", encoded=True))
            # unknown in the table (404), or not even a /static/ path once decoded (401: no route)
            assert resp.status in (401, 404) and "import" not in await resp.text(), name


def test_every_file_of_the_page_ships_in_the_package():
    """pyproject.toml's package data names every file under bridge/web/static (a wheel without
    them would serve a page that cannot load its scripts)."""
    import fnmatch
    import posixpath
    import tomllib

    from .peers import REPO

    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bridge"]
    static = REPO / "bridge" / "web" / "static"
    files = [p.relative_to(REPO / "bridge").as_posix() for p in static.rglob("*") if p.is_file()]
    assert "web/static/vendor/preact-10.29.8.module.js" in files

    def shipped(name: str) -> bool:
        return any(posixpath.dirname(name) == posixpath.dirname(g)
                   and fnmatch.fnmatchcase(posixpath.basename(name), posixpath.basename(g)) for g in globs)

    assert [f for f in files if not shipped(f)] == []


def test_with_mediamtx_the_page_may_frame_its_players_and_nothing_else():
    """The page's CSP lets it frame MediaMTX's WebRTC and HLS players: their configured origins,
    and for loopback ones the same port on the host the page was opened with (the page shows
    them from there); no frames without MediaMTX."""
    from types import SimpleNamespace

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bridge.api import web as web_page
    from bridge.api.keys import VIEW
    from bridge.config.mediamtx import MediamtxConfig

    def origins(media: MediamtxConfig, host: str) -> list[str]:
        app = web.Application()
        app[VIEW] = SimpleNamespace(config=SimpleNamespace(mediamtx=media))
        return web_page.player_origins(make_mocked_request("GET", "/", headers={"Host": host}, app=app))

    local = MediamtxConfig(enabled=True)  # http://127.0.0.1:8889 and :8888
    assert origins(local, "127.0.0.1:8765") == ["http://127.0.0.1:8889", "http://127.0.0.1:8888"]
    assert origins(local, "bridge.lan:8765") == ["http://127.0.0.1:8889", "http://bridge.lan:8889",
                                                 "http://127.0.0.1:8888", "http://bridge.lan:8888"]
    lan = MediamtxConfig(enabled=True, webrtc_url="https://media.lan:8889", hls_url="http://viewer:pw@[fd00::2]:8888")
    assert origins(lan, "bridge.lan:8765") == ["https://media.lan:8889", "http://[fd00::2]:8888"]
    assert origins(MediamtxConfig(enabled=False), "bridge.lan") == []
