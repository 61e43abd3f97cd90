"""API authentication, roles and rate limiting against a live bridge: API keys and JWTs, the
role matrix (401/403/2xx), loopback defaults, public health probes, 429 with Retry-After, the
``api-key`` CLI, and no key or token in the logs."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import warnings

import aiohttp
import jwt
import pytest
import yaml

from bridge import cli
from bridge.api.auth import ROUTE_ROLES, Principal, authenticate, generate_key, hash_key, unlisted_routes
from bridge.api.ratelimit import RateLimiter
from bridge.config import parse

from ..conftest import make_config, running
from .test_api_cameras import base_url, wait_for_snapshot

JWT_SECRET = "jwt-secret-for-the-auth-tests-0123456789"
DEAD_URL = "rtsp://127.0.0.1:9/none"
KEYS = {role: generate_key() for role in ("viewer", "operator", "admin")}
KEY_CONFIG = [{"name": f"{role}-key", "hash": hash_key(key), "role": role} for role, key in KEYS.items()]


def token(secret: str = JWT_SECRET, **claims) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def soon() -> int:
    return int(time.time()) + 600


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


#: every way of calling, good and bad: name -> (headers, role or None when refused with 401)
CALLERS: dict[str, tuple[dict[str, str], str | None]] = {
    "anonymous": ({}, None),
    "wrong key (Bearer)": (bearer(generate_key()), None),
    "wrong key (X-API-Key)": ({"X-API-Key": generate_key()}, None),
    "empty X-API-Key": ({"X-API-Key": ""}, None),
    "Basic scheme": ({"Authorization": "Basic dmlld2VyOnB3"}, None),
    "expired JWT": (bearer(token(sub="old", role="admin", exp=int(time.time()) - 60)), None),
    "JWT without exp": (bearer(token(sub="forever", role="admin")), None),
    "JWT without role": (bearer(token(sub="nobody", exp=soon())), None),
    "JWT with unknown role": (bearer(token(sub="root", role="root", exp=soon())), None),
    "JWT with bad signature": (bearer(token("another-secret-that-is-32-chars-long+", sub="x", role="admin",
                                            exp=soon())), None),
    "JWT alg none": (bearer(jwt.encode({"sub": "x", "role": "admin", "exp": soon()}, None,
                                       algorithm="none")), None),
    "viewer key (Bearer)": (bearer(KEYS["viewer"]), "viewer"),
    "operator key (X-API-Key)": ({"X-API-Key": KEYS["operator"]}, "operator"),
    "admin key (Bearer)": (bearer(KEYS["admin"]), "admin"),
    "viewer JWT": (bearer(token(sub="ha", role="viewer", exp=soon())), "viewer"),
    "operator JWT": (bearer(token(sub="automation", role="operator", exp=soon())), "operator"),
    "admin JWT": (bearer(token(sub="root", role="admin", exp=soon())), "admin"),
}

#: every credential string the tests send (none may show up in a log line)
SECRETS = [JWT_SECRET, "another-secret-that-is-32-chars-long+", *KEYS.values()]
for _headers, _ in CALLERS.values():
    for _value in _headers.values():
        if _value:
            SECRETS.append(_value.removeprefix("Bearer ").removeprefix("Basic "))

READ = [("GET", "/api/cameras", 200), ("GET", "/api/cameras/cam", 200),
        ("GET", "/api/cameras/cam/snapshot.jpg", 200), ("GET", "/api/cameras/cam/mjpeg", 200),
        ("GET", "/api/events", 200), ("GET", "/health/cameras", 200)]
RANK = {"viewer": 0, "operator": 1, "admin": 2}


async def call(http, method, path, headers, **kwargs):
    """Status and JSON body (or None) of a request; streams are closed after their headers."""
    resp = await http.request(method, path, headers=headers, **kwargs)
    try:
        body = await resp.json() if resp.content_type == "application/json" else None
    finally:
        resp.close()
    return resp.status, body, resp.headers


@pytest.fixture(scope="module")
async def secured(broker, rtsp):
    """A bridge with ``auth: required`` (the off-loopback rules) on 127.0.0.1."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}},
                         api={"auth": "required", "jwt_secret": JWT_SECRET, "keys": KEY_CONFIG,
                              "rate_limit": {"rate": 1000, "burst": 1000, "auth_failures": 10000}})
    async with running(config) as bridge:
        await wait_for_snapshot(bridge, "cam")
        yield bridge


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_role_matrix(secured, caller):
    headers, role = CALLERS[caller]
    rank = -1 if role is None else RANK[role]
    async with aiohttp.ClientSession(base_url(secured)) as http:
        # read: cameras, snapshot, MJPEG, SSE, camera health
        for method, path, ok in READ:
            status, body, resp_headers = await call(http, method, path, headers)
            if role is None:
                assert (status, body["error"]) == (401, "unauthorized"), (path, status, body)
                assert resp_headers["WWW-Authenticate"].startswith("Bearer"), path
                assert body["message"]
            else:
                assert status == ok, (path, status, body)

        # command: snapshot now
        status, body, _ = await call(http, "POST", "/api/cameras/cam/snapshot", headers)
        expected = 401 if role is None else 202 if rank >= RANK["operator"] else 403
        assert status == expected, body
        if status == 403:
            assert body["error"] == "forbidden"

        # registry changes: add, change, remove
        cam_id = f"added_{uuid.uuid4().hex[:6]}"
        changes = [("POST", "/api/cameras", {"id": cam_id, "url": DEAD_URL, "open_timeout": 1}, 201),
                   ("PATCH", f"/api/cameras/{cam_id}", {"name": "Changed"}, 200),
                   ("DELETE", f"/api/cameras/{cam_id}", None, 204)]
        for method, path, payload, ok in changes:
            status, body, _ = await call(http, method, path, headers, json=payload)
            expected = 401 if role is None else ok if rank >= RANK["admin"] else 403
            assert status == expected, (method, path, status, body)
            if expected in (401, 403):
                assert body["error"] == ("unauthorized" if expected == 401 else "forbidden")
        assert set(secured.cameras) == {"cam"}

        # unknown routes need admin (fail closed): no path probing without credentials
        status, _, _ = await call(http, "GET", "/api/nothing-here", headers)
        assert status == (401 if role is None else 404 if role == "admin" else 403)


async def test_health_probes_are_public_and_leak_nothing(secured, rtsp):
    async with aiohttp.ClientSession(base_url(secured)) as http:
        for headers in ({}, bearer(generate_key()), bearer(token(sub="x", role="admin"))):
            status, body, _ = await call(http, "GET", "/health/alive", headers)
            assert (status, body) == (200, {"status": "ok"})
            deadline = time.monotonic() + 5
            while True:
                resp = await http.get("/health/ready", headers=headers)
                text = await resp.text()
                if resp.status == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert resp.status == 200, text
            for detail in ('"cam"', rtsp.url, "rtsp", "127.0.0.1"):
                assert detail not in text
        # the camera summary is not public
        status, _, _ = await call(http, "GET", "/health/cameras", {})
        assert status == 401


async def test_every_route_has_a_declared_role(secured):
    app = secured.api._app  # noqa: SLF001
    assert unlisted_routes(app) == []
    assert ROUTE_ROLES["health.alive"] == ROUTE_ROLES["health.ready"] == "public"


async def test_credentials_are_never_logged(secured, caplog):
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession(base_url(secured)) as http:
        for headers, _ in CALLERS.values():
            for method, path in (("GET", "/api/cameras"), ("POST", "/api/cameras/cam/snapshot"),
                                 ("DELETE", "/api/cameras/cam")):
                _, body, _ = await call(http, method, path, headers)
                for secret in SECRETS:
                    assert secret not in repr(body)
    assert "refused" in caplog.text and "forbidden" in caplog.text  # failures are logged...
    for secret in SECRETS:
        assert secret not in caplog.text  # ...without the credential


async def test_loopback_default_needs_no_credentials_but_checks_presented_ones(broker, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": DEAD_URL, "open_timeout": 1}},
                         api={"keys": [KEY_CONFIG[0]]})  # auth: auto on 127.0.0.1
    assert not config.api.auth_required
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        assert (await call(http, "GET", "/api/cameras", {}))[0] == 200
        assert (await call(http, "POST", "/api/cameras/cam/snapshot", {}))[0] == 202
        status, body, _ = await call(http, "POST", "/api/cameras", {}, json={"id": "extra", "url": DEAD_URL})
        assert status == 201, body
        assert (await call(http, "DELETE", "/api/cameras/extra", {}))[0] == 204
        # a presented credential is still checked, and its role applies
        status, body, headers = await call(http, "GET", "/api/cameras", bearer(generate_key()))
        assert (status, body["error"]) == (401, "unauthorized") and "Bearer" in headers["WWW-Authenticate"]
        assert (await call(http, "GET", "/api/cameras", bearer(KEYS["viewer"])))[0] == 200
        assert (await call(http, "DELETE", "/api/cameras/cam", bearer(KEYS["viewer"])))[0] == 403
        # JWTs without api.jwt_secret are refused
        admin_jwt = bearer(token(sub="a", role="admin", exp=soon()))
        status, body, _ = await call(http, "GET", "/api/cameras", admin_jwt)
        assert status == 401 and "jwt_secret" in body["message"]


async def test_rate_limit_429_with_retry_after_then_recovery(broker, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": DEAD_URL, "open_timeout": 1}},
                         api={"keys": KEY_CONFIG, "rate_limit": {"rate": 2, "burst": 3}})
    viewer, admin = bearer(KEYS["viewer"]), bearer(KEYS["admin"])
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        for _ in range(3):
            assert (await call(http, "GET", "/api/cameras", viewer))[0] == 200
        status, body, headers = await call(http, "GET", "/api/cameras", viewer)
        assert (status, body["error"]) == (429, "rate_limited") and body["message"]
        retry = int(headers["Retry-After"])
        assert retry >= 1
        # per client: another key and anonymous callers (by address) have their own buckets
        assert (await call(http, "GET", "/api/cameras", admin))[0] == 200
        for _ in range(3):
            assert (await call(http, "GET", "/api/cameras", {}))[0] == 200
        assert (await call(http, "GET", "/api/cameras", {}))[0] == 429
        # health probes are exempt
        for _ in range(5):
            assert (await call(http, "GET", "/health/alive", viewer))[0] == 200
        await asyncio.sleep(retry)
        assert (await call(http, "GET", "/api/cameras", viewer))[0] == 200


def test_rate_limiter_buckets_refill_and_memory_is_bounded():
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, max_clients=3, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a") == 0
    for client in "bcde":
        limiter.take(client)
    assert len(limiter) == 3  # least recently used dropped
    now[0] += 1.0  # burst / rate: every bucket is full again, so forgotten
    limiter.take("z")
    assert len(limiter) == 1


def test_cli_api_key_prints_key_once_and_a_hash_that_verifies(capsys):
    assert cli.main(["api-key", "--name", "home assistant", "--role", "operator"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    keys = re.findall(r"cb_[A-Za-z0-9_-]{43}", out)
    assert len(keys) == 1
    key = keys[0]
    snippet = yaml.safe_load(out[out.index("api:"):])
    entry = snippet["api"]["keys"][0]
    assert entry == {"name": "home assistant", "hash": hash_key(key), "role": "operator"}
    assert key not in out[out.index("api:"):]
    config = parse(yaml.safe_dump({"mqtt": {"host": "x"}, "cameras": {}, **snippet}))
    expected = Principal("home assistant", "operator", "api_key")
    assert authenticate(config.api, key) == authenticate(config, f"Bearer {key}") == expected
    assert authenticate(config.api, generate_key()) is None
    assert cli.main(["api-key"]) == cli.EXIT_OK  # defaults: no config, role viewer
    assert "role: viewer" in capsys.readouterr().out


async def test_websocket_authenticates_at_connect_or_with_the_first_message(secured):
    """``/ws`` (route ``rpc``): an invalid header is 401 before the upgrade; a valid one, or
    none followed by an ``auth`` message, gives the connection its role."""
    async with aiohttp.ClientSession(base_url(secured)) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect("/ws", headers=bearer(generate_key()))
        assert refused.value.status == 401

        async def ask(ws, method, params=None):
            await ws.send_json({"jsonrpc": "2.0", "method": method, "params": params or {}, "id": 1})
            return await ws.receive_json(timeout=5)

        async with http.ws_connect("/ws", headers={"X-API-Key": KEYS["operator"]}) as ws:
            assert (await ask(ws, "cameras.list"))["result"]["cameras"][0]["id"] == "cam"
        async with http.ws_connect("/ws") as ws:
            assert (await ask(ws, "cameras.list"))["error"]["data"]["error"] == "unauthorized"
            reply = await ask(ws, "auth", {"token": token(sub="ha", role="viewer", exp=soon())})
            assert reply["result"] == {"name": "ha", "role": "viewer", "method": "jwt"}
            assert "result" in await ask(ws, "cameras.list")


async def test_authentication_stores_the_caller_without_a_not_app_key_warning(secured, monkeypatch):
    """The caller is kept under a typed ``web.RequestKey``: a string key makes aiohttp warn
    (``NotAppKeyWarning``) on the first request of the process, which the rate limiter and the
    JSON-RPC connection would then read under that string."""
    from aiohttp.web_exceptions import NotAppKeyWarning
    from aiohttp.web_request import BaseRequest

    from bridge.api.auth import PRINCIPAL

    # aiohttp warns once per string key and process: forget what earlier tests triggered
    monkeypatch.setattr(BaseRequest, "_seen_str_keys", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with aiohttp.ClientSession(base_url(secured)) as http:
            status, _, _ = await call(http, "GET", "/api/cameras", bearer(KEYS["viewer"]))
            ws = await http.ws_connect("/ws", headers=bearer(KEYS["operator"]))
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "cameras.list"})
            answer = await ws.receive_json(timeout=10)
            await ws.close()
    assert status == 200 and "result" in answer, answer
    assert [w for w in caught if issubclass(w.category, NotAppKeyWarning)] == []
    if hasattr(aiohttp.web, "RequestKey"):
        assert isinstance(PRINCIPAL, aiohttp.web.RequestKey)
