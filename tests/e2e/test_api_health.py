"""Health probes against a live bridge: alive, ready (MQTT outage and recovery), cameras."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, running
from .test_api_cameras import base_url, wait_for_snapshot


async def wait_ready(http: aiohttp.ClientSession, status: int, timeout: float) -> dict:
    """Poll /health/ready until it answers ``status``; return its body."""
    deadline = time.monotonic() + timeout
    while True:
        resp = await http.get("/health/ready")
        body = await resp.json()
        if resp.status == status:
            return body
        assert time.monotonic() < deadline, f"/health/ready stayed {resp.status}: {body}"
        await asyncio.sleep(0.2)


async def test_alive_and_ready_follow_the_broker(own_broker, rtsp, prefix):
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    config = make_config(own_broker.port, prefix, {"hidden_cam_id": {"url": secret_url}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.get("/health/alive", headers={"X-Request-ID": "probe-1"})
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        assert resp.headers["X-Request-ID"] == "probe-1"
        assert resp.headers["Cache-Control"] == "no-store"

        body = await wait_ready(http, 200, 10)
        assert body == {"status": "ok", "checks": {
            "config": {"ok": True, "message": "loaded"},
            "mqtt": {"ok": True, "message": "connected to the broker"},
            "registry": {"ok": True, "message": "open"},
            "mediamtx": {"ok": True, "message": "not enabled"}}}
        texts = [json.dumps(body)]

        own_broker.stop()
        body = await wait_ready(http, 503, 10)
        assert body["status"] == "unavailable"
        assert body["checks"]["mqtt"] == {"ok": False, "message": "not connected to the broker"}
        assert body["checks"]["config"]["ok"] and body["checks"]["registry"]["ok"]
        texts.append(json.dumps(body))
        # alive does not depend on the broker
        assert (await http.get("/health/alive")).status == 200

        own_broker.start()
        body = await wait_ready(http, 200, 20)
        assert body["status"] == "ok" and body["checks"]["mqtt"]["ok"]
        texts.append(json.dumps(body))
        texts.append(await (await http.get("/health/alive")).text())

    for text in texts:  # public probes: nothing about cameras
        for leak in ("hidden_cam_id", CAMERA_PASSWORD, CAMERA_USER, "rtsp", str(rtsp.port)):
            assert leak not in text, f"{leak!r} in {text}"


async def test_ready_reports_a_closed_registry(broker, prefix):
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_ready(http, 200, 10)
        bridge.store.close()  # the database no longer answers
        resp = await http.get("/health/ready")
        body = await resp.json()
        assert resp.status == 503 and body["checks"]["registry"] == {
            "ok": False, "message": "state database does not answer"}
        assert body["checks"]["mqtt"]["ok"]


async def test_cameras_summary(broker, rtsp, prefix):
    dead_url = f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@127.0.0.1:9/none"
    config = make_config(broker.port, prefix, {
        "cam": {"url": rtsp.url},
        "dead": {"url": dead_url, "open_timeout": 1},
    })
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        deadline = time.monotonic() + 10
        while bridge.cameras["dead"].status.error is None:
            assert time.monotonic() < deadline, "the dead camera never failed"
            await asyncio.sleep(0.1)
        resp = await http.get("/health/cameras")
        text = await resp.text()
        body = json.loads(text)
    assert resp.status == 200
    assert body["status"] == "degraded" and body["total"] == 2
    assert body["counts"]["streaming"] == 1 and sum(body["counts"].values()) == 2
    assert set(body["counts"]) == {"connecting", "streaming", "backoff", "error", "stopped", "offline", "disabled"}
    cam, dead = body["cameras"]["cam"], body["cameras"]["dead"]
    assert cam["state"] == "streaming" and cam["error"] is None
    assert 0 <= cam["last_frame_age_s"] < 2
    assert dead["state"] in ("backoff", "connecting", "error") and dead["last_frame_age_s"] is None
    assert dead["error"] and f"{CAMERA_USER}:***@" in dead["error"]
    assert CAMERA_PASSWORD not in text


async def test_cameras_summary_ok_without_cameras(broker, prefix):
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        body = await (await http.get("/health/cameras")).json()
    assert body["status"] == "ok" and body["total"] == 0 and body["cameras"] == {}
