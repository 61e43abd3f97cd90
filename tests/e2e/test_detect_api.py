"""The inference API (``POST /api/detect``), detection events on SSE, detection metrics, and
frames captured for retraining, on a live bridge over the real RTSP server and broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import cv2
import numpy as np

from ..conftest import make_config, running
from ..peers import SHARED
from .test_api_cameras import base_url
from .test_api_rpc import connect
from .test_metrics import parse, scrape, value

MEDIA = SHARED / "media"
MODEL = SHARED / "models" / "yolox_nano.onnx"


def encoded(name: str, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.imread(str(MEDIA / name), cv2.IMREAD_COLOR))
    assert ok
    return buf.tobytes()


async def test_detect_endpoint_finds_people_and_refuses_non_images(broker, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": "lavfi:testsrc2=size=320x240:rate=5"}},
                         detect={"model": str(MODEL)})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.post("/api/detect", data=encoded("grace_hopper.bmp", ".jpg"),
                               headers={"Content-Type": "image/jpeg"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["detector"] == "onnx" and (body["width"], body["height"]) == (512, 600)
        people = [d for d in body["detections"] if d["label"] == "person"]
        assert len(people) == 1 and people[0]["score"] > 0.8
        assert all(0 <= v <= 1 for v in people[0]["box"])

        form = aiohttp.FormData()
        form.add_field("image", encoded("pets.jpg", ".png"), filename="pets.png", content_type="image/png")
        resp = await http.post("/api/detect", data=form)
        labels = {d["label"] for d in (await resp.json())["detections"]}
        assert resp.status == 200 and "dog" in labels and "person" not in labels

        resp = await http.post("/api/detect?min_score=0.99", data=encoded("squat.bmp", ".png"),
                               headers={"Content-Type": "image/png"})
        assert (await resp.json())["detections"] == []

        for data, ctype in ((b"hello", "text/plain"), (b"not a jpeg at all", "image/jpeg"),
                            (b"\xff\xd8\xff" + b"\0" * 100, "image/jpeg")):
            resp = await http.post("/api/detect", data=data, headers={"Content-Type": ctype})
            assert resp.status == 415, (ctype, data[:10])
            assert (await resp.json())["error"] == "unsupported_media_type"
        resp = await http.post("/api/detect", data=b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024),
                               headers={"Content-Type": "image/jpeg"})
        assert resp.status == 413 and "message" in await resp.json()
        # a small PNG of a huge picture is refused before it is decoded
        bomb = cv2.imencode(".png", np.zeros((8000, 6000), np.uint8))[1].tobytes()
        assert len(bomb) < 1024 * 1024
        resp = await http.post("/api/detect", data=bomb, headers={"Content-Type": "image/png"})
        assert resp.status == 413 and (await resp.json())["error"] == "picture_too_large"
        resp = await http.post("/api/detect?min_score=2", data=encoded("squat.bmp", ".jpg"),
                               headers={"Content-Type": "image/jpeg"})
        assert resp.status == 400


async def test_detection_events_on_sse_metrics_and_captures(broker, rtsp, prefix, tmp_path: Path):
    captures = tmp_path / "captures"
    config = make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": {
        "enabled": True, "model": str(MODEL), "capture": {"enabled": True, "dir": str(captures)}}}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http, \
            connect(bridge) as rpc:
        sub = await rpc.result("events.subscribe", {"types": ["detection.event"]})
        resp = await http.get("/api/events?types=detection.event")
        assert resp.status == 200
        event = None
        async with asyncio.timeout(30):
            async for line in resp.content:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    break
        resp.close()
        assert event["type"] == "detection.event" and event["camera"] == "street"
        assert event["event"]["label"] == "person" and event["event"]["type"] == "new"
        async with asyncio.timeout(10):  # the same events as JSON-RPC notifications
            note = (await rpc.notification())["params"]
        assert note["subscription"] == sub["subscription"] and note["type"] == "detection.event"
        assert note["data"]["camera"] == "street" and note["data"]["event"]["label"] == "person"
        _text, samples = await scrape(http)
    assert value(samples, "camera_bridge_detect_runs_total", camera="street") >= 3
    assert value(samples, "camera_bridge_detect_frames_total", camera="street") >= 3
    assert value(samples, "camera_bridge_detect_inference_seconds_count", camera="street") >= 3
    assert value(samples, "camera_bridge_detect_events_total", camera="street", label="person", type="new") >= 1
    assert ("camera_bridge_detect_skipped_frames_total", frozenset({("camera", "street")})) in samples
    jpegs = sorted(captures.rglob("*.jpg"))
    assert jpegs, "no frame captured for retraining"
    sidecar = json.loads(jpegs[0].with_suffix(".json").read_text())
    assert sidecar["camera"] == "street" and sidecar["detections"]
    assert any(d["label"] == "person" and d["score"] >= 0.5 for d in sidecar["detections"])
    assert cv2.imread(str(jpegs[0])).shape[:2] == (sidecar["height"], sidecar["width"])
    assert jpegs[0].parent.name.count("-") == 2  # a dated folder YYYY-MM-DD
