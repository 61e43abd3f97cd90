"""REST API for cameras against a live bridge: registry, snapshots, MJPEG, SSE."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import cv2
import numpy as np

from datetime import datetime
from email.utils import parsedate_to_datetime

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, recording, running


def base_url(bridge) -> str:
    return f"http://127.0.0.1:{bridge.api.port}"


async def wait_for_snapshot(bridge, cam_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while bridge.snapshots[cam_id].latest is None:
        assert time.monotonic() < deadline, f"no snapshot from {cam_id}"
        await asyncio.sleep(0.05)


async def test_registry_add_patch_delete_and_persistence(broker, rtsp, prefix, tmp_path):
    data_dir = tmp_path / "state"
    config = make_config(broker.port, prefix, {"yaml_cam": {"url": rtsp.url}}, data_dir=data_dir)
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.post("/api/cameras", json={"name": "Porch Cam", "url": secret_url,
                                                      "snapshot": {"interval": 1}})
        assert resp.status == 201, await resp.text()
        added = await resp.json()
        assert added["id"] == "porch_cam" and added["source"] == "api"
        assert CAMERA_PASSWORD not in json.dumps(added) and f"{CAMERA_USER}:***@" in added["url"]
        assert resp.headers["Location"] == "/api/cameras/porch_cam"

        resp = await http.post("/api/cameras", json={"id": "porch_cam", "url": rtsp.url})
        assert resp.status == 409 and (await resp.json())["error"] == "conflict"
        resp = await http.post("/api/cameras", json={"id": "bad", "url": "ftp://x"})
        body = await resp.json()
        assert resp.status == 400 and body["errors"] == [
            "cameras.bad.url: expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN, "
            "got 'ftp://x'"]
        resp = await http.post("/api/cameras", data=b"{not json")
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_json"

        resp = await http.patch("/api/cameras/porch_cam", json={"snapshot": {"quality": 50}})
        patched = await resp.json()
        assert resp.status == 200 and patched["snapshot"] == {"interval": 1.0, "max_width": None,
                                                             "quality": 50, "retain": True}
        resp = await http.patch("/api/cameras/yaml_cam", json={"name": "x"})
        assert resp.status == 409
        resp = await http.delete("/api/cameras/yaml_cam")
        assert resp.status == 409
        resp = await http.patch("/api/cameras/nope", json={})
        assert resp.status == 404 and (await resp.json())["error"] == "not_found"

        listed = (await (await http.get("/api/cameras")).json())["cameras"]
        assert {c["id"]: c["source"] for c in listed} == {"yaml_cam": "yaml", "porch_cam": "api"}

    # a restart brings the API camera back, with its changed options
    config = make_config(broker.port, prefix, {"yaml_cam": {"url": rtsp.url}}, data_dir=data_dir)
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        cam = await (await http.get("/api/cameras/porch_cam")).json()
        assert cam["snapshot"]["quality"] == 50
        await wait_for_snapshot(bridge, "porch_cam")
        resp = await http.delete("/api/cameras/porch_cam")
        assert resp.status == 204
        assert (await http.get("/api/cameras/porch_cam")).status == 404
    config = make_config(broker.port, prefix, {"yaml_cam": {"url": rtsp.url}}, data_dir=data_dir)
    async with running(config) as bridge:
        assert set(bridge.cameras) == {"yaml_cam"}


async def test_camera_status_fields(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        cam = await (await http.get("/api/cameras/cam")).json()
    for key in ("state", "last_frame_at", "fps", "width", "height", "codec", "reconnects", "error", "stream_urls"):
        assert key in cam
    assert (cam["state"], cam["width"], cam["height"], cam["codec"]) == ("streaming", 1280, 720, "h264")


async def test_snapshot_200_304_503_and_width(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {
        "cam": {"url": rtsp.url, "snapshot": {"interval": 3600}},
        "dead": {"url": "rtsp://127.0.0.1:9/none", "open_timeout": 1},
    })
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        resp = await http.get("/api/cameras/cam/snapshot.jpg")
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (720, 1280, 3)
        etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
        assert modified.endswith("GMT")
        again = await http.get("/api/cameras/cam/snapshot.jpg", headers={"If-None-Match": etag})
        assert again.status == 304 and await again.read() == b""
        small = await http.get("/api/cameras/cam/snapshot.jpg?width=320")
        image = cv2.imdecode(np.frombuffer(await small.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (180, 320, 3) and small.headers["ETag"] != etag
        bad = await http.get("/api/cameras/cam/snapshot.jpg?width=abc")
        assert bad.status == 400 and "width" in (await bad.json())["message"]
        none = await http.get("/api/cameras/dead/snapshot.jpg")
        body = await none.json()
        assert none.status == 503 and body["error"] == "no_snapshot" and "dead" in body["message"]
        missing = await http.get("/api/cameras/nope/snapshot.jpg")
        assert missing.status == 404

        # snapshot now: a new snapshot although the interval is an hour
        first = bridge.snapshots["cam"].latest
        resp = await http.post("/api/cameras/cam/snapshot")
        assert resp.status == 202
        deadline = time.monotonic() + 3
        while bridge.snapshots["cam"].latest is first:
            assert time.monotonic() < deadline, "snapshot now did not produce a new snapshot"
            await asyncio.sleep(0.05)


async def test_pictures_say_how_old_they_are(broker, rtsp, prefix):
    """snapshot.jpg and MJPEG parts carry the capture time; ?max_age answers 503 with the age;
    the MQTT status and the API camera carry ``taken_at``."""
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge, \
            aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        taken = bridge.snapshots["cam"].latest.taken_at
        assert abs(time.time() - taken) < 3
        resp = await http.get("/api/cameras/cam/snapshot.jpg?max_age=60")
        assert resp.status == 200
        frame_time = datetime.fromisoformat(resp.headers["X-Frame-Time"]).timestamp()
        assert abs(frame_time - taken) < 0.002
        assert int(parsedate_to_datetime(resp.headers["Last-Modified"]).timestamp()) == int(taken)

        await asyncio.sleep(max(0.0, taken + 1.5 - time.time()))
        stale = await http.get("/api/cameras/cam/snapshot.jpg?max_age=1")
        body = await stale.json()
        assert stale.status == 503 and body["error"] == "stale_snapshot", body
        assert 1.4 <= body["age"] < 10 and body["state"] == "streaming"
        assert datetime.fromisoformat(body["taken_at"]).timestamp() == frame_time
        assert "max_age 1 s" in body["message"]
        for bad in ("abc", "-1", "nan", "1e9"):
            resp = await http.get(f"/api/cameras/cam/snapshot.jpg?max_age={bad}")
            assert resp.status == 400 and "max_age" in (await resp.json())["message"], bad

        resp = await http.get("/api/cameras/cam/mjpeg")
        reader = aiohttp.MultipartReader.from_response(resp)
        async with asyncio.timeout(10):
            part = await reader.next()
            await part.read()
        resp.close()
        assert datetime.fromisoformat(part.headers["X-Frame-Time"]).timestamp() == frame_time
        assert parsedate_to_datetime(part.headers["Last-Modified"]).timestamp() == int(taken)

        cam = await (await http.get("/api/cameras/cam")).json()
        assert datetime.fromisoformat(cam["taken_at"]).timestamp() == frame_time
        status = await rec.wait(lambda: [
            json.loads(m.payload) for m in rec.on(f"{prefix}/cam/status")
            if json.loads(m.payload)["taken_at"] is not None], 10, "status with taken_at")
    assert datetime.fromisoformat(status[-1]["taken_at"]).timestamp() == frame_time


async def test_mjpeg_delivers_several_frames(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 0}}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        resp = await http.get("/api/cameras/cam/mjpeg")
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        reader = aiohttp.MultipartReader.from_response(resp)
        frames = []
        async with asyncio.timeout(10):
            while len(frames) < 3:
                part = await reader.next()
                frames.append(await part.read())
        resp.close()
    for jpeg in frames:
        assert cv2.imdecode(np.frombuffer(bytes(jpeg), np.uint8), cv2.IMREAD_COLOR).shape == (720, 1280, 3)


async def read_sse(resp, count=None, timeout=10.0, until=None):
    """Parse SSE events until ``count`` arrived or ``until(event)`` is true for one."""
    events, current = [], {}
    async with asyncio.timeout(timeout):
        while (count is None or len(events) < count) and not (until and events and until(events[-1])):
            line = (await resp.content.readline()).decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return events


async def test_sse_status_change_and_resume(broker, own_rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": own_rtsp.url}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        resp = await http.get("/api/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        own_rtsp.kill()
        events = await read_sse(resp, 1)
        assert events[0]["event"] == "camera.status"
        first = json.loads(events[0]["data"])
        assert first["camera"] == "cam" and first["state"] in ("backoff", "connecting")
        resp.close()
        last_id = events[0]["id"]
        own_rtsp.start()
        while bridge.cameras["cam"].state.value != "streaming":
            await asyncio.sleep(0.1)
        resumed = await http.get("/api/events", headers={"Last-Event-ID": last_id})
        # what happened while disconnected comes first, from the buffer
        missed = await read_sse(resumed, until=lambda e: json.loads(e["data"])["state"] == "streaming")
        resumed.close()
    ids = [int(e["id"]) for e in missed]
    assert ids[0] == int(last_id) + 1 and ids == sorted(ids)
    assert "streaming" in [json.loads(e["data"])["state"] for e in missed]


async def test_errors_are_json_with_a_request_id(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.get("/api/nothing-here", headers={"X-Request-ID": "abc-123"})
        assert resp.status == 404 and resp.headers["X-Request-ID"] == "abc-123"
        assert (await resp.json())["error"] == "not_found"
        resp = await http.put("/api/cameras")
        assert resp.status == 405 and "message" in await resp.json()
        assert resp.headers["X-Request-ID"]


async def test_open_streams_do_not_hold_up_shutdown(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 0}}})
    async with aiohttp.ClientSession() as http:
        async with running(config) as bridge:
            url = base_url(bridge)
            await wait_for_snapshot(bridge, "cam")
            sse = await http.get(f"{url}/api/events")
            mjpeg = await http.get(f"{url}/api/cameras/cam/mjpeg")
            await mjpeg.content.readline()
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 5, "open SSE/MJPEG clients held up the shutdown"
        sse.close()
        mjpeg.close()


async def test_mjpeg_of_a_removed_camera_ends(broker, rtsp, prefix, monkeypatch):
    from bridge.api import cameras as cameras_api

    monkeypatch.setattr(cameras_api, "MJPEG_CHECK", 0.5)
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await http.post("/api/cameras", json={"id": "temp", "url": rtsp.url})
        await wait_for_snapshot(bridge, "temp")
        resp = await http.get("/api/cameras/temp/mjpeg")
        await resp.content.readline()
        assert (await http.delete("/api/cameras/temp")).status == 204
        async with asyncio.timeout(5):
            while await resp.content.read(65536):
                pass  # the stream ends instead of hanging
        resp.close()


async def test_resume_with_an_id_from_an_earlier_run_gets_a_reset(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        future_id = bridge.events.last_id + 10**12
        resp = await http.get("/api/events", headers={"Last-Event-ID": str(future_id)})
        first = await read_sse(resp, 1)
        assert first[0]["event"] == "reset"
        await http.post("/api/cameras", json={"id": "late", "url": rtsp.url})
        later = await read_sse(resp, 1)
        resp.close()
    assert later[0]["event"] == "camera.status" and json.loads(later[0]["data"])["camera"] == "late"
