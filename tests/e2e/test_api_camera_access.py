"""Keys and JWTs limited to some cameras (``api.keys[].cameras``, the JWT ``cameras`` claim),
against a live bridge: other cameras answer exactly like cameras that do not exist (404), lists
and event streams leave them out, views of every camera at once are refused."""

from __future__ import annotations

import time

import aiohttp
import jwt

from bridge.api.auth import generate_key, hash_key

from ..conftest import make_config, running
from .test_api_cameras import base_url, wait_for_snapshot
from .test_api_rpc import KEY_CONFIG, KEYS, connect

SECRET = "jwt-secret-for-the-camera-access-tests-012345"
FRONT_KEY = generate_key()


def config_for(broker, rtsp, prefix):
    return make_config(
        broker.port, prefix,
        {"front": {"url": rtsp.url, "snapshot": {"interval": 1}},
         "back": {"url": rtsp.url, "snapshot": {"interval": 1}}},
        api={"auth": "required", "jwt_secret": SECRET, "rate_limit": {"rate": 1000, "burst": 1000},
             "keys": [*KEY_CONFIG, {"name": "front-only", "hash": hash_key(FRONT_KEY), "role": "operator",
                                    "cameras": ["front"]}]},
        sections={"timelapses": {"back_lapse": {"camera": "back", "interval": 3600}}})


async def test_a_key_limited_to_a_camera_sees_only_it(broker, rtsp, prefix):
    config = config_for(broker, rtsp, prefix)
    back_jwt = jwt.encode({"sub": "back-viewer", "role": "viewer", "exp": int(time.time()) + 600,
                           "cameras": ["back"]}, SECRET, algorithm="HS256")
    limited = {"X-API-Key": FRONT_KEY}
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "front")
        await wait_for_snapshot(bridge, "back")

        async def get(path, headers=limited):
            async with http.get(path, headers=headers) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                return resp.status, body

        status, body = await get("/api/cameras")
        assert status == 200 and [c["id"] for c in body["cameras"]] == ["front"]
        status, body = await get("/api/cameras", {"Authorization": f"Bearer {back_jwt}"})
        assert [c["id"] for c in body["cameras"]] == ["back"]
        assert (await get("/api/cameras", {"X-API-Key": KEYS["viewer"]}))[1]["cameras"].__len__() == 2
        # another camera is exactly like one that does not exist
        for path in ("/api/cameras/{}", "/api/cameras/{}/snapshot.jpg", "/api/cameras/{}/mjpeg",
                     "/api/cameras/{}/detection"):
            hidden = await get(path.format("back"))
            missing = await get(path.format("nope"))
            assert hidden[0] == missing[0] == 404, path
            assert hidden[1]["error"] == missing[1]["error"] == "not_found"
            assert hidden[1]["message"].replace("back", "X") == missing[1]["message"].replace("nope", "X")
        async with http.post("/api/cameras/back/snapshot", headers=limited) as resp:
            assert resp.status == 404
        async with http.post("/api/cameras/front/snapshot", headers=limited) as resp:
            assert resp.status == 202
        assert (await get("/api/cameras/front/snapshot.jpg"))[0] == 200
        status, body = await get("/health/cameras")
        assert status == 200 and set(body["cameras"]) == {"front"}
        assert (await get("/api/timelapses"))[1]["timelapses"] == []
        assert (await get("/api/timelapses/back_lapse"))[0] == 404
        assert (await get("/api/timelapses/back_lapse", {"X-API-Key": KEYS["viewer"]}))[0] == 200
        assert (await get("/metrics"))[0] == 403 and (await get("/api/bridge"))[0] == 403

        # JSON-RPC: the same limits, and no events about the other camera
        async with connect(bridge, limited) as client:
            assert [c["id"] for c in (await client.result("cameras.list"))["cameras"]] == ["front"]
            assert [c["id"] for c in await client.result("cameras.list.v1")] == ["front"]
            hidden = await client.error("cameras.get", {"id": "back"})
            missing = await client.error("cameras.get", {"id": "nope"})
            assert hidden["code"] == missing["code"] == -32001
            assert (await client.error("cameras.snapshot", ["back"]))["code"] == -32001
            assert (await client.error("bridge.get"))["code"] == -32005
            await client.result("events.subscribe", {"types": ["camera.snapshot"]})
            await client.result("cameras.snapshot_now", {"id": "front"})
            seen: set[str] = set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and "front" not in seen:
                with_camera = await client.notification(timeout=20)
                seen.add(with_camera["params"]["data"]["camera"])
            until = time.monotonic() + 3  # back makes snapshots too, every second
            count = 0
            while time.monotonic() < until:
                try:
                    event = await client.notification(timeout=1.5)
                except TimeoutError:
                    break
                seen.add(event["params"]["data"]["camera"])
                count += 1
            assert seen == {"front"} and count >= 1, seen
