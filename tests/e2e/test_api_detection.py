"""``/api/cameras/{id}/detection``: a camera's detection state, its run-time switch and the best
snapshot per label, over the real RTSP server (the pedestrians footage) with the shared model."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from ..conftest import make_config, running
from ..peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"


def base_url(bridge) -> str:
    return f"http://127.0.0.1:{bridge.api.port}"


async def test_detection_state_switch_and_best_snapshot(broker, rtsp, prefix):
    cams = {"street": {"url": rtsp.url, "detect": {"enabled": True, "fps": 5, "model": str(MODEL)}},
            "plain": {"url": "lavfi:testsrc2=size=160x120:rate=5"}}
    config = make_config(broker.port, prefix, cams)
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        sub = bridge.events.subscribe(["detection.state"])
        state = await (await http.get("/api/cameras/street/detection")).json()
        assert state["camera"] == "street" and state["enabled"] is True and set(state["counts"]) == {"person"}
        assert set(state["stats"]) >= {"fps", "inference_ms", "frames", "runs", "skipped"}
        for path in ("/api/cameras/plain/detection", "/api/cameras/nope/detection"):
            resp = await http.get(path)
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"

        deadline = time.monotonic() + 40  # people walk into the footage: a best snapshot appears
        while "person" not in state["snapshots"]:
            assert time.monotonic() < deadline, f"no person snapshot: {state}"
            await asyncio.sleep(0.5)
            state = await (await http.get("/api/cameras/street/detection")).json()
        resp = await http.get("/api/cameras/street/detection/person.jpg")
        assert resp.status == 200 and resp.content_type == "image/jpeg" and (await resp.read())[:2] == b"\xff\xd8"
        assert (await http.get("/api/cameras/street/detection/cat.jpg")).status == 404

        for bad in ({"enabled": "off"}, {}, {"enabled": False, "more": 1}):
            resp = await http.put("/api/cameras/street/detection", json=bad)
            assert resp.status == 400 and (await resp.json())["error"] == "invalid_parameter"
        resp = await http.put("/api/cameras/street/detection", json={"enabled": False})
        off = await resp.json()
        assert resp.status == 200 and off["enabled"] is False and off["counts"] == {"person": 0}
        assert bridge.detectors["street"].enabled is False
        event = await asyncio.wait_for(sub.queue.get(), 5)
        assert event.type == "detection.state" and event.data == {"camera": "street", "enabled": False}
        on = await (await http.put("/api/cameras/street/detection", json={"enabled": True})).json()
        assert on["enabled"] is True
