"""The bridge driving MediaMTX (the fake, contract-checked against MediaMTX's OpenAPI document):
paths follow the cameras, recording is switched from MQTT, REST and JSON-RPC, stream URLs and
path metrics reach the API, MQTT and Prometheus; MediaMTX going away opens the circuit without a
request storm while snapshots keep flowing, and its return or restart re-applies the paths."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import yaml

from bridge.mediamtx.breaker import BreakerState

from ..conftest import make_config, recording, running
from ..fake_mediamtx import FakeMediamtx

LAVFI = "lavfi:testsrc2=size=160x120:rate=5"


def media(fake: FakeMediamtx, **extra) -> dict:
    return {"enabled": True, "api_url": fake.url, "health_interval": 0.2, "reconcile_interval": 30,
            "request_timeout": 1, **extra}


def base_url(bridge) -> str:
    return f"http://127.0.0.1:{bridge.api.port}"


async def until(predicate, timeout=10.0, what=""):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        await asyncio.sleep(0.05)
    return value


async def test_paths_recording_urls_and_metrics(broker, rtsp, prefix):
    async with FakeMediamtx() as fake:
        fake.paths["not_ours"] = {"source": "rtsp://192.0.2.1/x"}
        config = make_config(broker.port, prefix, {"demo": {"url": LAVFI}, "door": {"url": rtsp.url}},
                             sections={"mediamtx": media(fake, rtsp_url="rtsp://media.lan:8554")})
        async with recording(broker.port, prefix) as rec, running(config) as bridge:
            await until(lambda: {"demo", "door"} <= set(fake.paths), what="paths added")
            assert fake.paths["door"]["source"] == rtsp.url and fake.paths["door"]["record"] is False
            assert "runOnInit" in fake.paths["demo"]

            state = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{prefix}/bridge/state")
                                            if json.loads(m.payload)["mediamtx"] == "available"], what="available")
            assert state[-1]["mediamtx"] == "available"
            switch = json.loads((await rec.next_on(f"{prefix}_ha/switch/{prefix}/door_record/config", 0)).payload)
            assert switch["command_topic"] == f"{prefix}/door/record/set"
            sensor = json.loads((await rec.next_on(f"{prefix}_ha/binary_sensor/{prefix}/{prefix}_mediamtx/config", 0)).payload)
            assert sensor["state_topic"] == f"{prefix}/bridge/state"
            assert (await rec.next_on(f"{prefix}/door/record/state", 0)).payload == b"OFF"
            stream = json.loads((await rec.next_on(f"{prefix}/door/stream", 0)).payload)
            assert stream["urls"]["rtsp"] == "rtsp://media.lan:8554/door"

            # MQTT switch -> MediaMTX path patched, state retained
            since = time.monotonic()
            await bridge.publisher.link.publish_now(f"{prefix}/door/record/set", "ON")
            await until(lambda: fake.paths["door"]["record"] is True, what="record patched")
            assert (await rec.next_on(f"{prefix}/door/record/state", since)).payload == b"ON"

            async with aiohttp.ClientSession() as http:
                url = f"{base_url(bridge)}/api/cameras/door"
                async with http.get(url) as resp:
                    cam = await resp.json()
                assert cam["stream_urls"] == {"rtsp": "rtsp://media.lan:8554/door",
                                              "hls": "http://127.0.0.1:8888/door/index.m3u8",
                                              "webrtc": "http://127.0.0.1:8889/door"}
                assert cam["mediamtx"]["recording"] is True and cam["mediamtx"]["online"] is True
                async with http.put(f"{url}/recording", json={"recording": False}) as resp:
                    assert resp.status == 200 and (await resp.json())["recording"] is False
                assert fake.paths["door"]["record"] is False
                async with http.put(f"{url}/recording", json={"recording": "yes"}) as resp:
                    assert resp.status == 400 and (await resp.json())["error"] == "invalid_parameter"
                fake.recordings["door"] = ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"]
                async with http.get(f"{url}/recordings") as resp:
                    assert (await resp.json())["segments"] == [{"start": "2026-01-01T10:00:00Z"},
                                                              {"start": "2026-01-01T11:00:00Z"}]
                async with http.get(f"{base_url(bridge)}/api/cameras/demo/recordings") as resp:
                    assert (await resp.json())["segments"] == []
                async with http.get(f"{base_url(bridge)}/health/mediamtx") as resp:
                    health = await resp.json()
                    assert resp.status == 200 and health["status"] == "available" and health["circuit"] == "closed"
                async with http.get(f"{base_url(bridge)}/metrics") as resp:
                    text = await resp.text()
                assert 'camera_bridge_mediamtx_path_online{camera="door"} 1.0' in text
                assert "camera_bridge_mediamtx_up 1.0" in text
                async with http.ws_connect(f"{base_url(bridge)}/ws") as ws:
                    await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "cameras.set_recording",
                                        "params": {"id": "demo", "recording": True}})
                    reply = await ws.receive_json()
                    assert reply["result"]["recording"] is True
            assert fake.paths["demo"]["record"] is True

            # a camera removed through the API: its path goes, the foreign one stays
            await bridge.remove_camera("demo")
            await until(lambda: "demo" not in fake.paths, what="path deleted")
            assert "not_ours" in fake.paths


async def test_mediamtx_down_circuit_opens_snapshots_flow_and_recovery_reconciles(broker, prefix):
    fake = FakeMediamtx()  # not started: MediaMTX is down
    config = make_config(broker.port, prefix, {"demo": {"url": LAVFI, "snapshot": {"interval": 0}}},
                         sections={"mediamtx": media(fake)})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        service = bridge.mediamtx
        start = time.monotonic()
        await rec.next_on(f"{prefix}/demo/snapshot", 0)
        await asyncio.sleep(4)
        # 0.2 s health interval = 20 checks in 4 s; the open circuit let only a handful through
        assert service.checks >= 15
        assert service.client.requests <= 6, f"{service.client.requests} requests while down"
        assert service.breaker.state is not BreakerState.CLOSED
        snaps = rec.on(f"{prefix}/demo/snapshot", start + 1)
        assert len(snaps) >= 5, "snapshots stopped while MediaMTX is down"
        states = [json.loads(m.payload)["mediamtx"] for m in rec.on(f"{prefix}/bridge/state")]
        assert states and states[-1] == "unavailable"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base_url(bridge)}/health/mediamtx") as resp:
                assert resp.status == 503 and (await resp.json())["status"] == "unavailable"
            async with http.get(f"{base_url(bridge)}/health/ready") as resp:
                assert resp.status == 503 and (await resp.json())["checks"]["mediamtx"]["ok"] is False
            async with http.get(f"{base_url(bridge)}/api/cameras/demo/recordings") as resp:
                assert resp.status == 503 and (await resp.json())["error"] == "mediamtx_unavailable"
            async with http.put(f"{base_url(bridge)}/api/cameras/demo/recording", json={"recording": True}) as resp:
                assert resp.status == 200 and (await resp.json())["mediamtx"] == "unavailable"

        back = time.monotonic()
        await fake.start()
        try:
            # the next half-open trial (at most the breaker's open time away) finds it and reconciles
            await until(lambda: "demo" in fake.paths, timeout=20, what="reconciled after return")
            assert fake.paths["demo"]["record"] is True  # the switch made while down
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/bridge/state", back)
                                    if json.loads(m.payload)["mediamtx"] == "available"], what="available again")

            # MediaMTX restarts: its API paths are gone, the bridge notices `started` and re-adds
            await fake.restart()
            assert "demo" not in fake.paths
            await until(lambda: "demo" in fake.paths, timeout=5, what="re-applied after restart")
            assert len(rec.on(f"{prefix}/demo/snapshot", back)) > 0
        finally:
            await fake.stop()
        fake.assert_valid()


async def test_read_via_mediamtx_switches_to_the_restream_and_back(broker, rtsp, clip, prefix):
    """MediaMTX's restream is stood in for by a second real RTSP server serving path ``door``;
    the camera reads it while MediaMTX is healthy, the camera directly while it is down, and
    snapshots keep flowing through both switches."""
    from ..peers import RtspServer

    restream = RtspServer(clip, mount="door")
    restream.start()
    try:
        async with FakeMediamtx() as fake:
            config = make_config(broker.port, prefix, {"door": {"url": rtsp.url, "snapshot": {"interval": 0}}},
                                 sections={"mediamtx": media(fake, read_via_mediamtx=True,
                                                             rtsp_url=f"rtsp://127.0.0.1:{restream.port}")})
            async with recording(broker.port, prefix) as rec, running(config) as bridge:
                camera = bridge.cameras["door"]
                await until(lambda: camera.reading.url == f"{restream.url}", timeout=15, what="on the restream")
                assert bridge.restream.via("door") == "mediamtx"
                switched = time.monotonic()
                await rec.next_on(f"{prefix}/door/snapshot", switched + 0.5)
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{base_url(bridge)}/api/cameras/door") as resp:
                        view = await resp.json()
                assert view["mediamtx"]["read_via"] == "mediamtx" and view["url"] == rtsp.url

                await fake.stop()  # MediaMTX gone: straight back to the camera
                down = time.monotonic()
                await until(lambda: camera.reading.url == rtsp.url, timeout=5, what="direct again")
                await until(lambda: camera.state.value == "streaming", timeout=10, what="streaming direct")
                await rec.next_on(f"{prefix}/door/snapshot", down + 0.5)
                stream = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{prefix}/door/stream", down)
                                                 if json.loads(m.payload)["read_via"] == "direct"], what="via direct")
                assert stream

                # MediaMTX flaps: up and down every 0.3 s; the camera does not follow every flap
                switches = bridge.restream.switches
                for _ in range(4):
                    await fake.start()
                    await asyncio.sleep(0.3)
                    await fake.stop()
                    await asyncio.sleep(0.3)
                assert bridge.restream.switches - switches <= 2, "the camera flapped with MediaMTX"
                assert camera.reading.url == rtsp.url
                await fake.start()
                await until(lambda: camera.reading.url == restream.url, timeout=15, what="back on the restream")
    finally:
        restream.stop()


async def test_a_usb_camera_leaves_its_device_to_mediamtx_while_it_is_up(broker, prefix):
    """MediaMTX's ffmpeg publisher needs the V4L2 device (one opener at a time): while MediaMTX
    is up the bridge reads the USB camera's restream, while it is down the device itself."""
    async with FakeMediamtx() as fake:
        # no USB discovery: /dev/video9 does not exist here, and a USB camera whose device is
        # missing at start is taken offline by the USB monitor (tests/e2e/test_usb_discovery.py)
        config = make_config(broker.port, prefix, {"desk": {"device": "/dev/video9", "open_timeout": 1}},
                             sections={"mediamtx": media(fake), "usb": {"discovery": "off"}})
        async with running(config) as bridge:
            camera = bridge.cameras["desk"]
            await until(lambda: camera.reading.url == "rtsp://127.0.0.1:8554/desk", timeout=15, what="restream")
            assert camera.reading.device is None and camera.reading.kind == "rtsp"
            assert "-f v4l2" in fake.paths["desk"]["runOnInit"]
            await fake.stop()
            await until(lambda: camera.reading.device == "/dev/video9" and camera.reading.url is None,
                        timeout=15, what="the device again")
        assert camera.config.device == "/dev/video9"  # the options never change


async def test_a_reload_restarts_the_mediamtx_part_only(broker, rtsp, prefix, tmp_path):
    """A changed ``mediamtx`` section (another MediaMTX, recording on, other stream URLs):
    the new MediaMTX gets the paths, the stream URLs follow, no camera reconnects."""
    from bridge.app import Bridge
    from bridge.config import parse

    async with FakeMediamtx() as first, FakeMediamtx() as second:
        data = {"mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                         "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status"},
                "api": {"port": 0}, "data_dir": str(tmp_path / "data"),
                "cameras": {"porch": {"url": rtsp.url}, "door": {"url": rtsp.url}},
                "mediamtx": media(first, rtsp_url="rtsp://one.lan:8554")}
        text = yaml.safe_dump(data)
        path = tmp_path / "config.yaml"
        path.write_text(text)
        async with recording(broker.port, prefix) as rec, \
                Bridge(parse(text), config_path=path, config_text=text) as bridge:
            await until(lambda: {"porch", "door"} <= set(first.paths), what="paths on the first MediaMTX")
            await until(lambda: all(c.status.state == "streaming" for c in bridge.cameras.values()), 20, "streaming")
            cameras = {cam_id: (cam, cam.status.reconnects) for cam_id, cam in bridge.cameras.items()}
            service = bridge.mediamtx

            data["mediamtx"] = media(second, rtsp_url="rtsp://two.lan:8554", record={"enabled": True})
            result = await bridge.reloader.reload("test", yaml.safe_dump(data))
            assert result.applied and result.diff.sections == ("mediamtx",) and result.restart_needed == ()
            assert bridge.mediamtx is not service
            asked = len(first.requests)  # the old part asks no more
            await until(lambda: {"porch", "door"} <= set(second.paths), what="paths on the new MediaMTX")
            assert second.paths["door"]["record"] is True and second.paths["door"]["source"] == rtsp.url
            async with aiohttp.ClientSession() as http, http.get(f"{base_url(bridge)}/api/cameras/door") as resp:
                assert (await resp.json())["stream_urls"]["rtsp"] == "rtsp://two.lan:8554/door"
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/door/stream")
                                    if json.loads(m.payload)["urls"]["rtsp"] == "rtsp://two.lan:8554/door"],
                           10, "the stream topic follows")
            assert {cam_id: (cam, cam.status.reconnects) for cam_id, cam in bridge.cameras.items()} == cameras
            checks = len(second.requests)
            await until(lambda: len(second.requests) > checks + 5, 10, "health checks of the new MediaMTX")
            assert len(first.requests) == asked
