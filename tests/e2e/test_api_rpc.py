"""JSON-RPC 2.0 over WebSocket (``/ws``) against a live bridge: conformance, camera methods,
event notifications, versioning, roles; and the bounded send queue of one connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from types import SimpleNamespace

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.api import rpc
from bridge.api.auth import generate_key, hash_key
from bridge.core.events import CameraStatusChanged, EventBus

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, running
from .test_api_cameras import base_url, wait_for_snapshot


class RpcClient:
    """A WebSocket JSON-RPC client that keeps every frame it received (``frames``) and the
    event notifications that arrived between replies (``notifications``)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.notifications: list[dict] = []
        self._ids = itertools.count(1)

    async def receive(self, timeout: float = 10.0):
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        self.frames.append(msg.data)
        return json.loads(msg.data)

    async def reply(self, timeout: float = 10.0):
        """The next frame that is not an event notification."""
        while True:
            message = await self.receive(timeout)
            if isinstance(message, dict) and message.get("method") == "event":
                self.notifications.append(message)
                continue
            return message

    async def send(self, payload) -> None:
        await self.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))

    async def call(self, method: str, params=None) -> dict:
        """The whole reply object of one call."""
        rid = next(self._ids)
        request = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            request["params"] = params
        await self.send(request)
        reply = await self.reply()
        assert reply["id"] == rid and reply["jsonrpc"] == "2.0", reply
        return reply

    async def result(self, method: str, params=None):
        reply = await self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    async def error(self, method: str, params=None) -> dict:
        reply = await self.call(method, params)
        assert "error" in reply and "result" not in reply, reply
        return reply["error"]

    async def notification(self, timeout: float = 10.0) -> dict:
        if self.notifications:
            return self.notifications.pop(0)
        message = await self.receive(timeout)
        assert message.get("method") == "event", message
        return message


@contextlib.asynccontextmanager
async def connect(bridge, headers=None):
    async with aiohttp.ClientSession(base_url(bridge)) as http, http.ws_connect("/ws", headers=headers) as ws:
        yield RpcClient(ws)


async def test_conformance(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with running(config) as bridge, connect(bridge) as client:
        await client.send("{not json")
        reply = await client.reply()
        assert reply["id"] is None and reply["error"]["code"] == -32700

        # invalid requests: wrong version, method not a string, params not structured, not an object
        for request in ({"jsonrpc": "1.0", "method": "cameras.list", "id": 7},
                        {"jsonrpc": "2.0", "method": 1, "id": 7},
                        {"jsonrpc": "2.0", "method": "cameras.get", "params": "cam", "id": 7}):
            await client.send(request)
            reply = await client.reply()
            assert reply["error"]["code"] == -32600 and reply["id"] == 7, reply
        await client.send('"hello"')
        assert (await client.reply())["error"]["code"] == -32600
        await client.send({"jsonrpc": "2.0", "method": "x", "id": {"no": "objects"}})
        reply = await client.reply()
        assert reply["error"]["code"] == -32600 and reply["id"] is None

        error = await client.error("cameras.frobnicate")
        assert error["code"] == -32601 and "cameras.frobnicate" in error["message"]

        # invalid params name the parameter
        for params, param in (({}, "id"), ({"id": 5}, "id"), ({"id": "cam", "bogus": 1}, "bogus"),
                              (["cam", 1, 2], "params")):
            error = await client.error("cameras.get", params)
            assert error["code"] == -32602 and error["data"]["param"] == param, error
            assert param in error["message"]
        error = await client.error("cameras.snapshot", {"id": "cam", "width": 5})
        assert error["data"]["param"] == "width" and "16 to 7680" in error["message"]
        error = await client.error("events.subscribe", {"types": "camera.status"})
        assert error["data"]["param"] == "types"

        # params by position
        assert (await client.result("cameras.get", ["cam"]))["id"] == "cam"

        # a notification (no id) gets no reply, even when it fails
        await client.send({"jsonrpc": "2.0", "method": "no.such.method"})
        await client.send({"jsonrpc": "2.0", "method": "cameras.get", "params": {}})
        await client.send({"jsonrpc": "2.0", "method": "cameras.list"})
        await client.call("rpc.discover")  # the next frame is this reply (call checks its id)

        # a batch: mixed calls, a notification, an unknown method and an invalid entry
        await client.send([
            {"jsonrpc": "2.0", "method": "cameras.list", "id": "a"},
            {"jsonrpc": "2.0", "method": "cameras.snapshot_now", "params": {"id": "cam"}},
            {"jsonrpc": "2.0", "method": "cameras.get", "params": {"id": "nope"}, "id": "b"},
            {"jsonrpc": "2.0", "method": "nope", "id": "c"},
            {"foo": "bar"},
        ])
        replies = await client.reply()
        assert isinstance(replies, list) and len(replies) == 4
        by_id = {r["id"]: r for r in replies}
        assert set(by_id) == {"a", "b", "c", None}
        assert by_id["a"]["result"]["cameras"][0]["id"] == "cam"
        assert by_id["b"]["error"]["code"] == -32001 and by_id["b"]["error"]["data"]["error"] == "not_found"
        assert by_id["c"]["error"]["code"] == -32601
        assert by_id[None]["error"]["code"] == -32600

        # a batch of notifications only: no reply at all; an empty batch: one error object
        await client.send([{"jsonrpc": "2.0", "method": "cameras.list"},
                           {"jsonrpc": "2.0", "method": "nope"}])
        await client.send([])
        reply = await client.reply()
        assert reply == {"jsonrpc": "2.0", "id": None,
                         "error": {"code": -32600, "message": "invalid request: empty batch"}}
        await client.send([1])
        reply = await client.reply()
        assert isinstance(reply, list) and reply[0]["error"]["code"] == -32600 and reply[0]["id"] is None

    # /ws without an upgrade is a JSON error
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.get("/ws")
        assert resp.status == 400 and (await resp.json())["error"] == "websocket_required"


async def test_cameras_round_trip(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"yaml_cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}})
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    async with running(config) as bridge, connect(bridge) as client:
        await wait_for_snapshot(bridge, "yaml_cam")
        listed = await client.result("cameras.list")
        assert [c["id"] for c in listed["cameras"]] == ["yaml_cam"]
        cam = await client.result("cameras.get", {"id": "yaml_cam"})
        assert cam["source"] == "yaml" and cam["state"] == "streaming"

        snap = await client.result("cameras.snapshot", {"id": "yaml_cam"})
        image = cv2.imdecode(np.frombuffer(base64.b64decode(snap["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (cam["height"], cam["width"], 3) == (720, 1280, 3)
        assert (snap["width"], snap["height"], snap["content_type"]) == (1280, 720, "image/jpeg")
        small = await client.result("cameras.snapshot", {"id": "yaml_cam", "width": 320})
        image = cv2.imdecode(np.frombuffer(base64.b64decode(small["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (small["height"], small["width"], 3) == (180, 320, 3)

        first = bridge.snapshots["yaml_cam"].latest
        assert await client.result("cameras.snapshot_now", {"id": "yaml_cam"}) == {
            "camera": "yaml_cam", "requested": True}
        deadline = time.monotonic() + 3
        while bridge.snapshots["yaml_cam"].latest is first:
            assert time.monotonic() < deadline, "snapshot_now did not produce a new snapshot"
            await asyncio.sleep(0.05)

        added = await client.result("cameras.add", {"name": "Porch Cam", "url": secret_url,
                                                    "snapshot": {"interval": 1}})
        assert added["id"] == "porch_cam" and added["source"] == "api"
        assert f"{CAMERA_USER}:***@" in added["url"]
        error = await client.error("cameras.add", {"id": "porch_cam", "url": rtsp.url})
        assert error["code"] == -32002 and error["data"]["error"] == "conflict"
        error = await client.error("cameras.add", {"id": "bad", "url": "ftp://x"})
        assert error["code"] == -32003 and error["data"]["errors"] == [
            "cameras.bad.url: expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN, "
            "got 'ftp://x'"]
        error = await client.error("cameras.add", {"id": "bad2", "url": secret_url, "snapshot": {"quality": 500}})
        assert error["code"] == -32003 and error["data"]["errors"]
        error = await client.error("cameras.add", [secret_url])
        assert error["code"] == -32602

        updated = await client.result("cameras.update", {"id": "porch_cam", "changes": {"snapshot": {"quality": 50}}})
        assert updated["snapshot"] == {"interval": 1.0, "max_width": None, "quality": 50, "retain": True}
        assert (await client.error("cameras.update", {"id": "yaml_cam", "changes": {"name": "x"}}))["code"] == -32002
        assert (await client.error("cameras.update", {"id": "nope", "changes": {}}))["code"] == -32001
        error = await client.error("cameras.update", {"id": "porch_cam", "changes": {"url": "ftp://x"}})
        assert error["code"] == -32003
        error = await client.error("cameras.update", {"id": "porch_cam"})
        assert error["code"] == -32602 and error["data"]["param"] == "changes"

        ids = {c["id"]: c["source"] for c in (await client.result("cameras.list"))["cameras"]}
        assert ids == {"yaml_cam": "yaml", "porch_cam": "api"}
        assert await client.result("cameras.remove", {"id": "porch_cam"}) == {"id": "porch_cam", "removed": True}
        assert (await client.error("cameras.remove", {"id": "yaml_cam"}))["code"] == -32002
        assert (await client.error("cameras.get", {"id": "porch_cam"}))["code"] == -32001
        assert "porch_cam" not in bridge.cameras

        assert client.frames and not any(CAMERA_PASSWORD in frame for frame in client.frames)


async def test_no_snapshot_yet(broker, prefix):
    config = make_config(broker.port, prefix, {"dead": {"url": "rtsp://127.0.0.1:9/none", "open_timeout": 1}})
    async with running(config) as bridge, connect(bridge) as client:
        error = await client.error("cameras.snapshot", {"id": "dead"})
        assert error["code"] == -32006 and error["data"]["error"] == "no_snapshot"
        assert "dead" in error["message"] and error["data"]["state"]
        assert (await client.error("cameras.snapshot", {"id": "nope"}))["code"] == -32001


async def test_snapshot_max_age(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}})
    async with running(config) as bridge, connect(bridge) as client:
        await wait_for_snapshot(bridge, "cam")
        fresh = await client.result("cameras.snapshot", {"id": "cam", "max_age": 60})
        assert fresh["taken_at"] and fresh["jpeg"]
        await asyncio.sleep(max(0.0, bridge.snapshots["cam"].latest.taken_at + 1.2 - time.time()))
        error = await client.error("cameras.snapshot", {"id": "cam", "max_age": 1})
        assert error["code"] == -32006 and error["data"]["error"] == "stale_snapshot"
        assert error["data"]["age"] >= 1.1 and error["data"]["taken_at"] == fresh["taken_at"]
        assert (await client.error("cameras.snapshot", {"id": "cam", "max_age": -1}))["code"] == -32602


async def test_events_subscribe_and_unsubscribe(broker, own_rtsp, prefix):
    secret_url = own_rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    config = make_config(broker.port, prefix, {"cam": {"url": secret_url}})
    async with running(config) as bridge, connect(bridge) as client:
        await wait_for_snapshot(bridge, "cam")
        sub = await client.result("events.subscribe", {"types": ["camera.status"]})
        assert sub["types"] == ["camera.status"]
        everything = await client.result("events.subscribe")
        assert everything["types"] is None and everything["subscription"] != sub["subscription"]
        own_rtsp.kill()
        seen = {}
        async with asyncio.timeout(10):
            while len(seen) < 2:
                note = await client.notification()
                params = note["params"]
                assert "id" not in note and set(params) >= {"subscription", "id", "type", "time", "data"}
                seen.setdefault(params["subscription"], params)
        status = seen[sub["subscription"]]
        assert status["type"] == "camera.status" and status["data"]["camera"] == "cam"
        assert status["data"]["state"] in ("backoff", "connecting")

        for sub_id in (sub["subscription"], everything["subscription"]):
            assert await client.result("events.unsubscribe", {"subscription": sub_id}) == {
                "subscription": sub_id, "unsubscribed": True}
        assert (await client.error("events.unsubscribe", {"subscription": sub["subscription"]}))["code"] == -32001
        client.notifications.clear()  # sent before the unsubscribe replies
        own_rtsp.start()
        deadline = time.monotonic() + 20
        while bridge.cameras["cam"].state.value != "streaming":
            assert time.monotonic() < deadline, "the camera did not come back"
            await asyncio.sleep(0.1)
        await client.result("rpc.discover")
        assert client.notifications == []  # nothing arrived before the reply
        with pytest.raises(TimeoutError):
            await client.receive(timeout=0.5)
        assert not any(CAMERA_PASSWORD in frame for frame in client.frames)


async def test_deprecated_method_and_discover(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with running(config) as bridge, connect(bridge) as client:
        reply = await client.call("cameras.list.v1")
        assert isinstance(reply["result"], list) and reply["result"][0]["id"] == "cam"
        assert reply["deprecated"]["replacement"] == "cameras.list"
        current = await client.call("cameras.list")
        assert "deprecated" not in current and current["result"]["cameras"] == reply["result"]

        discover = await client.result("rpc.discover")
        methods = {m["name"]: m for m in discover["methods"]}
        assert set(methods) >= {"cameras.list", "cameras.list.v1", "cameras.get", "cameras.snapshot",
                                "cameras.snapshot_now", "cameras.add", "cameras.update", "cameras.remove",
                                "events.subscribe", "events.unsubscribe", "auth", "rpc.discover"}
        old, new = methods["cameras.list.v1"], methods["cameras.list"]
        assert old["deprecated"] is True and old["replacement"] == "cameras.list" and old["version"] == 1
        assert new["deprecated"] is False and new["version"] == 2
        assert methods["cameras.get"]["params"] == [
            {"name": "id", "type": "string", "required": True, "description": "camera id"}]
        assert [(p["name"], p["required"]) for p in methods["cameras.snapshot"]["params"]] == [
            ("id", True), ("width", False), ("max_age", False)]
        roles = {name: m["role"] for name, m in methods.items()}
        assert (roles["cameras.list"], roles["cameras.snapshot_now"], roles["cameras.add"], roles["auth"]) == (
            "viewer", "operator", "admin", None)
        assert "-32006" in discover["errors"]
        assert discover["caller"] == {"name": "anonymous", "role": "admin"}


KEYS = {role: generate_key() for role in ("viewer", "operator", "admin")}
KEY_CONFIG = [{"name": f"{role}-key", "hash": hash_key(key), "role": role} for role, key in KEYS.items()]


async def test_auth_at_connect_and_by_first_message(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}},
                         api={"auth": "required", "keys": KEY_CONFIG})
    async with running(config) as bridge:
        # no credentials: only auth and rpc.discover until authenticated
        async with connect(bridge) as client:
            assert (await client.result("rpc.discover"))["caller"] is None
            error = await client.error("cameras.list")
            assert error["code"] == -32004 and error["data"]["error"] == "unauthorized"
            assert (await client.error("auth", {"token": generate_key()}))["code"] == -32004
            assert await client.result("auth", {"token": KEYS["viewer"]}) == {
                "name": "viewer-key", "role": "viewer", "method": "api_key"}
            assert (await client.result("cameras.list"))["cameras"][0]["id"] == "cam"
            error = await client.error("cameras.snapshot_now", {"id": "cam"})
            assert error["code"] == -32005 and error["data"]["role"] == "operator"
            assert (await client.error("cameras.add", {"url": rtsp.url}))["code"] == -32005
            # a higher credential on the same connection
            await client.result("auth", {"token": f"Bearer {KEYS['operator']}"})
            assert (await client.result("cameras.snapshot_now", {"id": "cam"}))["requested"] is True
            assert KEYS["viewer"] not in "".join(client.frames)

        # credentials on the upgrade request
        async with connect(bridge, {"X-API-Key": KEYS["admin"]}) as client:
            assert (await client.result("rpc.discover"))["caller"] == {"name": "admin-key", "role": "admin"}
            error = await client.error("cameras.add", {"id": "x", "url": "ftp://x"})
            assert error["code"] == -32003  # past the role check
        async with connect(bridge, {"Authorization": f"Bearer {KEYS['viewer']}"}) as client:
            assert (await client.error("cameras.remove", {"id": "cam"}))["code"] == -32005

        # a wrong credential on the upgrade request: 401, no WebSocket
        async with aiohttp.ClientSession(base_url(bridge)) as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect("/ws", headers={"X-API-Key": generate_key()})
            assert err.value.status == 401

        # failed auth attempts close the connection
        async with connect(bridge) as client:
            for _ in range(rpc.MAX_AUTH_FAILURES):
                assert (await client.error("auth", {"token": "nope"}))["code"] == -32004
            msg = await client.ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_unauthenticated_connection_times_out(broker, rtsp, prefix, monkeypatch):
    monkeypatch.setattr(rpc, "AUTH_TIMEOUT", 0.5)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}}, api={"auth": "required", "keys": KEY_CONFIG})
    async with running(config) as bridge, connect(bridge) as client:
        msg = await client.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "authentication timeout"


class StuckSocket:
    """A WebSocket whose client reads nothing until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[dict] = []

    async def send_str(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(json.loads(text))


async def test_slow_client_loses_events_not_memory():
    bridge = SimpleNamespace(events=EventBus(), cameras={}, snapshots={})
    ws = StuckSocket()
    conn = rpc.Connection(bridge, None, ws, rpc.ANONYMOUS)
    conn.start()
    try:
        reply = await conn.handle(json.dumps({"jsonrpc": "2.0", "method": "events.subscribe", "id": 1}))
        await conn.send(reply)
        for burst in range(4):
            for n in range(300):
                bridge.events.publish(CameraStatusChanged("cam", {"n": burst * 300 + n}))
            await asyncio.sleep(0.01)  # the subscription moves what it can
            assert conn._queue.qsize() <= rpc.SEND_QUEUE
        ws.release.set()
        await conn.drain()
        bridge.events.publish(CameraStatusChanged("cam", {"n": "last"}))
        await asyncio.sleep(0.01)
        await conn.drain()
    finally:
        await conn.close()
    notes = [m for m in ws.sent if m.get("method") == "event"]
    assert ws.sent[0]["id"] == 1 and ws.sent[0]["result"]["subscription"] == "1"
    assert len(notes) <= rpc.SEND_QUEUE + 2  # the queue, the one being sent, the last
    ids = [n["params"]["id"] for n in notes]
    assert ids == sorted(ids) and notes[-1]["params"]["data"]["n"] == "last"
    # every event is either delivered or counted as missed by the next delivered one
    assert len(notes) + sum(n["params"].get("missed", 0) for n in notes) == 1201
    assert notes[-1]["params"]["missed"] > 0
