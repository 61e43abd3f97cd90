"""Cameras with several streams, against two real RTSP servers showing the same scene (a 1080p
main stream and a 360p sub stream made from the pedestrians footage): detection runs on the sub
stream, snapshots come from the main stream, the status reports each stream, and the camera is
``streaming`` only while both are."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.config import parse
from bridge.errors import ConfigError

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, recording, running
from ..peers import SHARED, RtspServer, kept_alive, make_clip

MODEL = SHARED / "models" / "yolox_nano.onnx"


@pytest.fixture(scope="module")
def main_rtsp(workdir: Path):
    with kept_alive(RtspServer(make_clip(workdir / "pedestrians_1080p.mp4", width=1920, height=1080),
                               mount="main")) as server:
        yield server


@pytest.fixture
def sub_rtsp(workdir: Path):
    server = RtspServer(make_clip(workdir / "pedestrians_360p.mp4", width=640, height=360), mount="sub")
    server.start()
    yield server
    server.stop()


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


async def test_detection_on_the_sub_stream_snapshots_from_the_main(broker, main_rtsp, sub_rtsp, prefix):
    config = make_config(broker.port, prefix, {"street": {
        "streams": [{"url": main_rtsp.url, "roles": ["snapshot", "timelapse", "restream", "record"]},
                    {"url": sub_rtsp.url, "roles": ["detect"]}],
        "stall_timeout": 2, "snapshot": {"interval": 0},
        "detect": {"enabled": True, "fps": 5, "model": str(MODEL)}}})
    base = f"{prefix}/street"
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        snap = await rec.next_on(f"{base}/snapshot", 0)
        await rec.wait(lambda: [m for m in rec.on(f"{base}/events") if json.loads(m.payload)["type"] == "new"],
                       30, "a person new event")
        best = await rec.wait(lambda: rec.on(f"{base}/person/snapshot"), 10, "a person snapshot")
        status = await rec.wait(lambda: [
            s for s in (json.loads(m.payload) for m in rec.on(f"{base}/status"))
            if s["state"] == "streaming" and all(x["fps"] for x in s["streams"])], 10, "both streams measured")
        main_decoded = bridge.cameras["street"].streams[0].status
        rings = [s.keyframes for s in bridge.cameras["street"].streams]
        sub = bridge.cameras["street"].streams[1]._status

        stopped_at = time.monotonic()
        sub_rtsp.stop()  # the sub stream goes: the camera is no longer streaming, the main stream is
        lost = await rec.wait(lambda: [
            s for s in (json.loads(m.payload) for m in rec.on(f"{base}/status", stopped_at))
            if s["state"] != "streaming"], 15, "a status that is not streaming")
        availability = await rec.wait(lambda: [m for m in rec.on(f"{base}/availability", stopped_at)
                                               if m.payload == b"offline"], 5, "availability offline")
        sub_rtsp.start()
        await rec.wait(lambda: bridge.cameras["street"].state == "streaming" and
                       rec.on(f"{base}/availability")[-1].payload == b"online", 30, "streaming again")

    assert decode(snap.payload).shape == (1080, 1920, 3)  # snapshots: the main stream
    # the event's picture: the main stream's keyframe nearest the sub stream's detection frame
    assert decode(best[0].payload).shape == (1080, 1920, 3)
    # the main (snapshot) stream keeps its keyframes for event snapshots, the sub stream none
    assert rings[0] is not None and 0 < len(rings[0]) <= 10 and rings[1] is None
    streams = status[-1]["streams"]
    assert [(s["width"], s["height"], s["codec"], s["state"]) for s in streams] == [
        (1920, 1080, "h264", "streaming"), (640, 360, "h264", "streaming")]
    assert streams[0]["roles"] == ["snapshot", "timelapse", "restream", "record"]
    assert streams[1]["roles"] == ["detect"] and streams[1]["url"] == sub_rtsp.url
    assert 10 <= streams[0]["fps"] <= 40 and 10 <= streams[1]["fps"] <= 40  # 25 fps clips, measured per stream
    assert (status[-1]["width"], status[-1]["height"]) == (1920, 1080)
    # detection decodes the sub stream's frames; the main stream decodes keyframes only
    assert main_decoded.decoded <= main_decoded.keyframes + 1
    assert sub.decoded > 3 * sub.keyframes
    state = lost[0]
    assert [s["state"] for s in state["streams"]][0] == "streaming"
    assert state["streams"][1]["state"] != "streaming" and state["state"] == state["streams"][1]["state"]
    assert availability


def errors_of(cameras: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(json.dumps({"mqtt": {"host": "h"}, "cameras": cameras}))
    return caught.value.errors


def test_stream_errors_name_their_key_path():
    main = {"url": "rtsp://cam/main", "roles": ["snapshot", "detect"]}
    assert errors_of({"porch": {"streams": [main, {"url": "rtsp://cam/sub", "roles": ["detect"]}]}}) == [
        "cameras.porch.streams.1.roles: role detect is already on stream 0 (each role on exactly one stream)"]
    assert errors_of({"porch": {"streams": [main, {"url": "rtsp://cam/sub", "roles": []}]}})[0].startswith(
        "cameras.porch.streams.1.roles: expected a list of roles from detect, snapshot, timelapse, restream, record")
    assert errors_of({"porch": {"streams": [main, {"url": "ftp://u:pw@cam/sub", "roles": ["record"]}]}}) == [
        "cameras.porch.streams.1.url: expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or "
        "/dev/videoN, got 'ftp://u:***@cam/sub'"]
    assert errors_of({"porch": {"url": "rtsp://cam/main", "streams": [main]}}) == [
        "cameras.porch: set exactly one of url, device and streams"]
    assert errors_of({"porch": {"streams": [main, {"url": "rtsp://cam/sub", "roles": ["record"]}]}}) == [
        "cameras.porch.streams.1.roles: record must be on the restream stream (MediaMTX records the path it "
        "restreams)"]


def test_roles_named_on_no_stream_belong_to_the_first():
    config = parse(json.dumps({"mqtt": {"host": "h"}, "cameras": {"porch": {"streams": [
        {"url": "rtsp://cam/main", "roles": ["snapshot"]}, {"url": "rtsp://cam/sub", "roles": ["detect"]}]}}}))
    cam = config.cameras["porch"]
    assert [s.roles for s in cam.streams] == [("snapshot", "timelapse", "restream", "record"), ("detect",)]
    assert cam.stream_of("detect") == 1 and cam.stream_config(1).url == "rtsp://cam/sub"
    assert cam.source == "rtsp://cam/main" and cam.kind == "rtsp"


async def test_api_adds_a_camera_with_two_streams_and_a_url_patch_replaces_them(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {})
    secret = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    async with running(config) as bridge, aiohttp.ClientSession(f"http://127.0.0.1:{bridge.api.port}") as http:
        resp = await http.post("/api/cameras", json={"id": "porch", "streams": [
            {"url": secret, "roles": ["snapshot"]}, {"url": rtsp.url, "roles": ["detect"]}]})
        body = await resp.json()
        assert resp.status == 201, body
        assert CAMERA_PASSWORD not in json.dumps(body)
        assert [s["roles"] for s in body["streams"]] == [["snapshot", "timelapse", "restream", "record"], ["detect"]]
        assert body["streams"][0]["url"].startswith(f"rtsp://{CAMERA_USER}:***@")
        assert [t.get_name() for t in bridge.cameras["porch"].streams[1]._tasks] == ["camera[porch].stream1.supervise"]
        resp = await http.post("/api/cameras", json={"id": "bad", "streams": [
            {"url": rtsp.url, "roles": ["detect"]}, {"url": rtsp.url, "roles": ["detect"]}]})
        assert (await resp.json())["errors"] == [
            "cameras.bad.streams.1.roles: role detect is already on stream 0 (each role on exactly one stream)"]

        resp = await http.patch("/api/cameras/porch", json={"url": rtsp.url})
        body = await resp.json()
        assert resp.status == 200, body
        assert body["url"] == rtsp.url and len(body["streams"]) == 1 and len(bridge.cameras["porch"].streams) == 1


async def test_timelapse_frames_come_from_the_timelapse_stream(broker, prefix):
    small, large = "lavfi:testsrc2=size=320x240:rate=5", "lavfi:testsrc2=size=640x360:rate=5"
    config = make_config(broker.port, prefix, {"cam": {
        "streams": [{"url": small, "roles": ["snapshot", "detect", "restream", "record"]},
                    {"url": large, "roles": ["timelapse"]}],
        "snapshot": {"interval": 0}}},
        sections={"timelapse": {"min_free_mb": 1}, "timelapses": {"tl": {"camera": "cam", "interval": 1}}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge, aiohttp.ClientSession(
            f"http://127.0.0.1:{bridge.api.port}") as http:
        snap = await rec.next_on(f"{prefix}/cam/snapshot", 0, timeout=30)
        rt = bridge.timelapses.get("tl")
        await rec.wait(lambda: rt.frames >= 2, 30, "two timelapse frames")
        async with http.get("/api/timelapses/tl/frames") as resp:
            frames = (await resp.json())["frames"]
        async with http.get(frames[-1]["url"]) as resp:
            jpeg = await resp.read()
    assert decode(snap.payload).shape == (240, 320, 3)  # snapshots: the snapshot stream
    # timelapse frames: the timelapse stream's size, not the first (snapshot) stream's
    assert {(f["width"], f["height"]) for f in frames} == {(640, 360)}
    assert decode(jpeg).shape == (360, 640, 3)
