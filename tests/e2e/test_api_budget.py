"""Per-connection budgets against a live bridge: JSON-RPC calls rate-limited and counted, a
WebSocket closed when its JWT expires, failed authentications limited per address, caps on open
WebSockets and streams, and slow WebSocket clients dropped instead of buffered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
import jwt
import pytest

from bridge.api import auth, budget

from ..conftest import make_config, running
from .test_api_cameras import base_url
from .test_api_rpc import KEY_CONFIG, KEYS, connect

JWT_SECRET = "jwt-secret-for-the-budget-tests-0123456789"


def config_for(broker, rtsp, prefix, **api):
    return make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}},
                       api={"auth": "required", "keys": KEY_CONFIG, "jwt_secret": JWT_SECRET, **api})


async def test_rpc_calls_take_rate_limit_tokens_and_are_counted(broker, rtsp, prefix):
    config = config_for(broker, rtsp, prefix, rate_limit={"rate": 0.5, "burst": 5})
    async with running(config) as bridge:
        async with connect(bridge, {"X-API-Key": KEYS["viewer"]}) as client:  # the upgrade: 1 token
            for _ in range(4):
                await client.result("cameras.list")
            error = await client.error("cameras.list")
            assert error["code"] == -32010 and error["data"]["error"] == "rate_limited"
            assert error["data"]["retry_after"] >= 1 and "retry in" in error["message"]
            assert (await client.error("no.such.method"))["code"] == -32010  # every call counts
        # the REST bucket of that key is empty too: it is the same bucket
        async with aiohttp.ClientSession(base_url(bridge)) as http:
            async with http.get("/api/cameras", headers={"X-API-Key": KEYS["viewer"]}) as resp:
                assert resp.status == 429
            async with http.get("/metrics", headers={"X-API-Key": KEYS["admin"]}) as resp:
                text = await resp.text()
    assert 'camera_bridge_api_requests_total{method="RPC",route="rpc:cameras.list",status="ok"} 4.0' in text
    assert 'route="rpc:cameras.list",status="-32010"} 1.0' in text
    assert 'route="rpc:unknown",status="-32010"} 1.0' in text


async def test_websocket_is_closed_when_its_jwt_expires(broker, rtsp, prefix, monkeypatch):
    monkeypatch.setattr(auth, "JWT_LEEWAY", 0)
    config = config_for(broker, rtsp, prefix)
    async with running(config) as bridge:
        token = jwt.encode({"sub": "short", "role": "viewer", "exp": int(time.time()) + 2}, JWT_SECRET,
                           algorithm="HS256")
        # by header and by auth message
        async with connect(bridge, {"Authorization": f"Bearer {token}"}) as client:
            await client.result("cameras.list")
            start = time.monotonic()
            msg = await client.ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "token expired", msg
            assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert time.monotonic() - start < 4
        async with connect(bridge) as client:
            token = jwt.encode({"sub": "short", "role": "viewer", "exp": int(time.time()) + 2}, JWT_SECRET,
                               algorithm="HS256")
            await client.result("auth", {"token": token})
            await client.result("events.subscribe")
            msg = await client.ws.receive(timeout=10)
            while msg.type == aiohttp.WSMsgType.TEXT:  # event notifications until then
                msg = await client.ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "token expired", msg
        # an API key never expires: still open after the JWT connections were closed
        async with connect(bridge, {"X-API-Key": KEYS["viewer"]}) as client:
            await client.result("cameras.list")


async def test_failed_authentications_are_limited_per_address(broker, rtsp, prefix):
    config = config_for(broker, rtsp, prefix, rate_limit={"auth_failures": 3})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        for _ in range(3):
            async with http.get("/api/cameras", headers={"X-API-Key": "cb_wrong"}) as resp:
                assert resp.status == 401
        # now even the right key is refused from this address, without being checked
        for key in ("cb_wrong", KEYS["admin"]):
            async with http.get("/api/cameras", headers={"X-API-Key": key}) as resp:
                body = await resp.json()
                assert resp.status == 429 and body["error"] == "rate_limited", body
                assert "failed authentications from 127.0.0.1" in body["message"]
                assert int(resp.headers["Retry-After"]) >= 1
        # the health probes stay open; JSON-RPC auth is refused the same way
        async with http.get("/health/alive") as resp:
            assert resp.status == 200
        async with connect(bridge) as client:
            error = await client.error("auth", {"token": KEYS["admin"]})
            assert error["code"] == -32010 and error["data"]["retry_after"] >= 1


async def test_failed_rpc_auth_counts_against_the_address(broker, rtsp, prefix):
    config = config_for(broker, rtsp, prefix, rate_limit={"auth_failures": 2})
    async with running(config) as bridge:
        async with connect(bridge) as client:
            for _ in range(2):
                assert (await client.error("auth", {"token": "nope"}))["code"] == -32004
            assert (await client.error("auth", {"token": KEYS["viewer"]}))["code"] == -32010
        async with aiohttp.ClientSession(base_url(bridge)) as http, http.get(
                "/api/cameras", headers={"X-API-Key": KEYS["viewer"]}) as resp:
            assert resp.status == 429


@contextlib.asynccontextmanager
async def sse(http: aiohttp.ClientSession, path: str = "/api/events"):
    resp = await http.get(path, headers={"X-API-Key": KEYS["viewer"]})
    try:
        yield resp
    finally:
        resp.close()


async def test_caps_on_open_websockets_and_streams(broker, rtsp, prefix):
    config = config_for(broker, rtsp, prefix, max_websockets=4, max_streams=1)
    headers = {"X-API-Key": KEYS["viewer"]}
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        # a quarter of the WebSockets (1) may wait for authentication
        async with connect(bridge) as pending:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with connect(bridge):
                    pass
            assert refused.value.status == 503
            async with connect(bridge, headers) as a, connect(bridge, headers) as b:
                await pending.result("auth", {"token": KEYS["viewer"]})  # frees its pending slot
                async with connect(bridge) as late:
                    async with http.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                        "Sec-WebSocket-Version": "13",
                                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                                        **headers}) as resp:
                        body = await resp.json()
                        assert resp.status == 503 and body["error"] == "too_many_connections", body
                        assert "at most 4 WebSocket connections" in body["message"]
                        assert resp.headers["Retry-After"] == "5"
                    await late.result("auth", {"token": KEYS["viewer"]})
                await a.result("cameras.list")
                await b.result("cameras.list")
        async with connect(bridge, headers) as again:  # slots are given back on close
            await again.result("cameras.list")

        async with sse(http) as first:
            assert first.status == 200
            async with sse(http) as second:
                assert second.status == 503 and (await second.json())["error"] == "too_many_connections"
            async with sse(http, "/api/cameras/cam/mjpeg") as mjpeg:
                assert mjpeg.status == 503
                assert "at most 1 event and MJPEG streams" in (await mjpeg.json())["message"]
        # a closed stream's slot comes back within a few seconds (its handler notices the close)
        deadline = time.monotonic() + 10
        while True:
            async with sse(http) as after:
                if after.status == 200:
                    break
            assert time.monotonic() < deadline, "the closed stream's slot did not come back"
            await asyncio.sleep(0.5)


async def test_a_websocket_client_that_does_not_read_is_dropped(broker, rtsp, prefix, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(budget, "SEND_TIMEOUT", 0.5)
    config = config_for(broker, rtsp, prefix, rate_limit={"rate": 10000, "burst": 10000})
    async with running(config) as bridge:
        async with aiohttp.ClientSession(base_url(bridge)) as http, http.ws_connect(
                "/ws", headers={"X-API-Key": KEYS["viewer"]}) as ws:
            request = '{"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}'
            start = time.monotonic()
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionError):
                while time.monotonic() - start < 30 and not ws.closed:
                    for _ in range(200):
                        await ws.send_str(request)  # never reading a reply
                    await asyncio.sleep(0.05)
                    if any("did not read" in r.getMessage() for r in caplog.records):
                        break
        assert any("client did not read for 0.5 s; disconnected" in r.getMessage() for r in caplog.records)
        async with aiohttp.ClientSession(base_url(bridge)) as http, http.get("/health/alive") as resp:
            assert resp.status == 200
        deadline = time.monotonic() + 5
        while budget.budget(bridge.api._app).open["websockets"]:  # the slot is given back
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
