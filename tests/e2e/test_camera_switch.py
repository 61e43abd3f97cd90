"""A camera switched off and on at run time (MQTT ``enabled/set``, REST ``PUT
/api/cameras/{id}/enabled``, JSON-RPC ``cameras.set_enabled``), over the real RTSP server and
broker: off means no connection, no snapshots, state ``disabled`` and availability ``offline``;
on streams again; the switch survives a restart; a retained command is never acted on."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import aiomqtt

from ..conftest import make_config, recording, running
from ..peers import retained
from .test_api_rpc import connect


def base_url(bridge) -> str:
    return f"http://127.0.0.1:{bridge.api.port}"


async def test_switch_off_and_on_over_mqtt_and_rest_survives_a_restart(broker, rtsp, prefix, tmp_path):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 0}}},
                         data_dir=tmp_path / "data")
    snap_topic, state_topic = f"{prefix}/cam/snapshot", f"{prefix}/cam/enabled/state"
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # a retained OFF is never acted on
        await client.publish(f"{prefix}/cam/enabled/set", b"OFF", retain=True, qos=1)
    try:
        async with recording(broker.port, prefix) as rec, running(config) as bridge, \
                aiohttp.ClientSession(base_url(bridge)) as http, \
                aiomqtt.Client("127.0.0.1", broker.port) as client:
            await rec.wait(lambda: rec.on(snap_topic), 15, "a snapshot")
            assert [m.payload for m in rec.on(state_topic)][-1] == b"ON"
            assert str(bridge.cameras["cam"].state) == "streaming"
            switch_topic = bridge.publisher.topics.discovery("switch", "cam_enabled")
            found = await rec.wait(lambda: [m.payload for m in rec.on(switch_topic) if m.payload], 5, "the switch")
            switch = json.loads(found[0])
            assert switch["command_topic"] == f"{prefix}/cam/enabled/set" and switch["state_topic"] == state_topic
            assert [a["topic"] for a in switch["availability"]] == [f"{prefix}/bridge/availability"]

            events = bridge.events.subscribe(["camera.enabled", "camera.status"])
            await client.publish(f"{prefix}/cam/enabled/set", b"OFF", qos=1)
            await rec.wait(lambda: [m for m in rec.on(state_topic) if m.payload == b"OFF"], 10, "switched off")
            off_at = time.monotonic()
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/cam/availability", off_at - 1)
                                    if m.payload == b"offline"], 5, "availability offline")
            status = json.loads(rec.on(f"{prefix}/cam/status")[-1].payload)
            assert status["state"] == "disabled"
            types = [(await asyncio.wait_for(events.queue.get(), 5)) for _ in range(2)]
            assert {(e.type, e.data.get("enabled", e.data.get("state"))) for e in types} == \
                {("camera.enabled", False), ("camera.status", "disabled")}
            frames = bridge.cameras["cam"].status.frames
            await asyncio.sleep(2.5)
            assert bridge.cameras["cam"].status.frames == frames, "packets read while off"
            assert not rec.on(snap_topic, off_at + 0.5), "snapshots published while off"
            view = await (await http.get("/api/cameras/cam")).json()
            assert view["enabled"] is False and view["state"] == "disabled"
            resp = await http.get("/api/cameras/cam/snapshot.jpg")  # the last snapshot is kept
            assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"

            for bad in ({"enabled": "on"}, {}, {"enabled": True, "x": 1}):
                resp = await http.put("/api/cameras/cam/enabled", json=bad)
                assert resp.status == 400 and (await resp.json())["error"] == "invalid_parameter"
            resp = await http.put("/api/cameras/nope/enabled", json={"enabled": True})
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"

            # an API camera, switched off over REST, stays off when its options change
            await bridge.registry.add({"id": "api_cam", "url": rtsp.url})
            resp = await http.put("/api/cameras/api_cam/enabled", json={"enabled": False})
            body = await resp.json()
            assert resp.status == 200 and body["enabled"] is False and body["state"] == "disabled"
            await bridge.registry.update("api_cam", {"open_timeout": 3})
            assert str(bridge.cameras["api_cam"].state) == "disabled"
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/api_cam/enabled/state") if m.payload == b"OFF"],
                           5, "the API camera's switch state")

        after = await retained(broker.port, [state_topic, f"{prefix}/api_cam/enabled/state"])
        assert after == {state_topic: b"OFF", f"{prefix}/api_cam/enabled/state": b"OFF"}

        # restart: both still off, nothing read; then on again, over MQTT and REST
        async with recording(broker.port, prefix) as rec, running(config) as bridge, \
                aiohttp.ClientSession(base_url(bridge)) as http, \
                aiomqtt.Client("127.0.0.1", broker.port) as client:
            start = time.monotonic()
            await asyncio.sleep(2)
            for cam_id in ("cam", "api_cam"):
                assert str(bridge.cameras[cam_id].state) == "disabled"
                assert bridge.cameras[cam_id].status.frames == 0
                assert not rec.on(f"{prefix}/{cam_id}/snapshot", start)
            views = {c["id"]: c for c in (await (await http.get("/api/cameras")).json())["cameras"]}
            assert views["cam"]["enabled"] is False and views["api_cam"]["state"] == "disabled"

            on_at = time.monotonic()
            await client.publish(f"{prefix}/cam/enabled/set", b"ON", qos=1)
            await rec.wait(lambda: rec.on(snap_topic, on_at), 15, "snapshots again")
            assert [m.payload for m in rec.on(state_topic, on_at)][-1] == b"ON"
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/cam/availability", on_at)
                                    if m.payload == b"online"], 10, "online again")
            resp = await http.put("/api/cameras/api_cam/enabled", json={"enabled": True})
            assert resp.status == 200 and (await resp.json())["enabled"] is True
            await rec.wait(lambda: rec.on(f"{prefix}/api_cam/snapshot", on_at), 15, "the API camera streams")

        async with running(config) as bridge:  # on is saved too
            assert bridge.disabled == set()
            await bridge.registry.remove("api_cam")
    finally:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # clean the broker
            await client.publish(f"{prefix}/cam/enabled/set", b"", retain=True)


async def test_switch_over_json_rpc_with_event_notification(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with running(config) as bridge, connect(bridge) as client:
        await client.result("events.subscribe", {"types": ["camera.enabled"]})
        off = await client.result("cameras.set_enabled", {"id": "cam", "enabled": False})
        assert off["enabled"] is False and off["state"] == "disabled"
        note = await client.notification()
        assert note["params"]["type"] == "camera.enabled"
        assert note["params"]["data"] == {"camera": "cam", "enabled": False}
        assert bridge.cameras["cam"].state == "disabled"
        async with aiohttp.ClientSession(base_url(bridge)) as http:  # off on purpose is no fault
            health = await (await http.get("/health/cameras")).json()
        assert health["status"] == "ok" and health["counts"]["disabled"] == 1
        error = await client.error("cameras.set_enabled", {"id": "cam", "enabled": "no"})
        assert error["code"] == -32602
        error = await client.error("cameras.set_enabled", {"id": "nope", "enabled": True})
        assert error["data"]["error"] == "not_found"
        on = await client.result("cameras.set_enabled", {"id": "cam", "enabled": True})
        assert on["enabled"] is True and on["state"] != "disabled"


async def test_a_camera_switched_off_has_no_mediamtx_path(broker, rtsp, prefix):
    """MediaMTX pulls a camera's source itself: a camera that is off loses its path (nothing
    connects to it any more), and gets it back when switched on."""
    from ..fake_mediamtx import FakeMediamtx
    from .test_mediamtx_bridge import media, until

    async with FakeMediamtx() as fake:
        config = make_config(broker.port, prefix, {"door": {"url": rtsp.url}}, sections={"mediamtx": media(fake)})
        async with running(config) as bridge:
            await until(lambda: "door" in fake.paths, what="path added")
            await bridge.set_camera_enabled("door", False)
            await until(lambda: "door" not in fake.paths, what="path deleted while off")
            await bridge.set_camera_enabled("door", True)
            await until(lambda: "door" in fake.paths, what="path back")
            assert fake.paths["door"]["source"] == rtsp.url
