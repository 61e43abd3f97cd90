"""Detection end to end over the real RTSP server and the real broker: the pedestrians clip
gives person events, occupancy, a best snapshot with its box; a still scene gives no detector
runs once the motion detector has settled; detection decodes every frame only while it is on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiomqtt
import cv2
import numpy as np
import pytest

from ..conftest import make_config, recording, running
from ..peers import SHARED, RtspServer

MODEL = SHARED / "models" / "yolox_nano.onnx"


@pytest.fixture(scope="session")
def still_clip(workdir: Path) -> Path:
    """A 6 s 1280x720 H.264 clip of one still picture (cat.bmp), GOP 1 s."""
    out = workdir / "still_cat.mp4"
    if not out.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(SHARED / "media" / "cat.bmp"),
                        "-t", "6", "-vf", "scale=1280:720,fps=25", "-c:v", "libx264", "-preset", "veryfast",
                        "-bf", "0", "-g", "25", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


@pytest.fixture
def still_rtsp(still_clip: Path):
    server = RtspServer(still_clip)
    server.start()
    yield server
    server.stop()


def detect_section(**extra):
    return {"enabled": True, "fps": 5, "model": str(MODEL), **extra}


@pytest.mark.parametrize("detector", ["onnx", "opencv_hog"])
async def test_pedestrians_give_person_events_occupancy_and_a_boxed_snapshot(broker, rtsp, prefix, detector):
    # opencv_hog: what a fresh install without any model file gets
    detect = detect_section() if detector == "onnx" else {"enabled": True, "fps": 5}
    config = make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect}})
    base = f"{prefix}/street"
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        bus = bridge.events.subscribe(["detection.event"])
        kind = bridge.detectors["street"].config.kind
        new = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{base}/events")
                                      if json.loads(m.payload)["type"] == "new"], 30, "a person new event")
        count = await rec.wait(lambda: [m for m in rec.on(f"{base}/person") if int(m.payload) > 0], 10, "count > 0")
        snap = await rec.wait(lambda: rec.on(f"{base}/person/snapshot"), 10, "a person snapshot")
        await rec.wait(lambda: rec.on(f"{base}/detect/state"), 5, "detect state")
        sse = await asyncio.wait_for(bus.queue.get(), 5)
        await rec.wait(lambda: [m for m in rec.on(f"{base}/events") if json.loads(m.payload)["snapshot_available"]],
                       5, "an event with its snapshot")
        new = [json.loads(m.payload) for m in rec.on(f"{base}/events") if json.loads(m.payload)["type"] == "new"]
        discovery = {m.topic: json.loads(m.payload) for m in rec.messages if m.topic.startswith(f"{prefix}_ha/")
                     and m.payload}
    assert all(e["label"] == "person" and e["score"] >= 0.35 and e["end_time"] is None for e in new)
    # one snapshot per label and frame: the best new object of the first batch has it
    event = next(e for e in new if e["snapshot_available"])
    assert event["top_score"] >= 0.6 and event["frame_time"] == new[0]["frame_time"]
    assert kind == detector
    x1, y1, x2, y2 = event["box"]
    assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
    assert rec.on(f"{base}/events")[0].retain is False
    assert count[0].payload.isdigit()
    # the first snapshot (published with the first new event) is a JPEG with that person's box
    image = cv2.imdecode(np.frombuffer(snap[0].payload, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (720, 1280, 3)
    red = (image[:, :, 2] > 160) & (image[:, :, 1] < 90) & (image[:, :, 0] < 90)
    top, left, right = round(y1 * 719), round(x1 * 1279), round(x2 * 1279)
    edge = red[max(0, top - 3):top + 4, left:right + 1].any(axis=0)
    assert edge.mean() > 0.8, f"no red box edge along the event's box top: {edge.mean():.2f}"
    assert sse.type == "detection.event" and sse.data["camera"] == "street"
    # Home Assistant entities: occupancy, image, event, switch, motion
    comps = {t.split("/")[1] for t in discovery}
    assert {"binary_sensor", "image", "event", "switch", "sensor"} <= comps
    occupancy = discovery[f"{prefix}_ha/binary_sensor/{prefix}/street_person_occupancy/config"]
    assert occupancy["device_class"] == "occupancy" and occupancy["state_topic"] == f"{base}/person"
    image_entity = discovery[f"{prefix}_ha/image/{prefix}/street_person_snapshot/config"]
    assert image_entity["image_topic"] == f"{base}/person/snapshot"
    assert image_entity["content_type"] == "image/jpeg"
    assert discovery[f"{prefix}_ha/event/{prefix}/street_person_event/config"]["event_types"] == ["new", "end"]


async def test_still_scene_runs_no_detector_after_motion_settles(broker, still_rtsp, prefix):
    config = make_config(broker.port, prefix, {"still": {"url": still_rtsp.url, "detect": detect_section()}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        worker = bridge.detectors["still"]
        await rec.wait(lambda: worker.stats.frames >= 10, 15, "10 detection frames")
        runs_after_settle = worker.stats.runs
        frames_after_settle = worker.stats.frames
        await asyncio.sleep(4)
        assert worker.stats.frames - frames_after_settle >= 12, "detection frames stopped coming"
        assert worker.stats.runs == runs_after_settle, "the detector ran on a still scene"
        assert worker.stats.skipped >= 12
        motion = rec.on(f"{prefix}/still/motion")
    assert not rec.on(f"{prefix}/still/events")
    assert all(m.payload == b"OFF" for m in motion)


async def test_every_frame_decoded_only_while_detection_is_on(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "detect": detect_section(fps=2)}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        camera = bridge.cameras["cam"]
        worker = bridge.detectors["cam"]
        await rec.wait(lambda: camera.status.decoded > 10, 15, "decoding")

        async def rate(seconds: float) -> tuple[float, float]:
            decoded, frames = camera.status.decoded, worker.stats.frames
            await asyncio.sleep(seconds)
            return (camera.status.decoded - decoded) / seconds, (worker.stats.frames - frames) / seconds

        decoded_on, detect_fps = await rate(3)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{prefix}/cam/detect/set", b"OFF", qos=1)
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/cam/detect/state") if m.payload == b"OFF"], 5, "OFF")
        # turning detection off ends the ongoing events and zeroes the counts
        started = {json.loads(m.payload)["id"] for m in rec.on(f"{prefix}/cam/events")
                   if json.loads(m.payload)["type"] == "new"}
        assert started, "people should have been detected before OFF"
        await rec.wait(lambda: started <= {json.loads(m.payload)["id"] for m in rec.on(f"{prefix}/cam/events")
                                           if json.loads(m.payload)["type"] == "end"}, 5, "every event ended")
        assert rec.on(f"{prefix}/cam/person")[-1].payload == b"0"
        await asyncio.sleep(1.5)
        decoded_off, detect_off = await rate(3)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{prefix}/cam/detect/set", b"ON", qos=1)
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/cam/detect/state") if m.payload == b"ON"
                                and m.at > time.monotonic() - 5], 5, "ON")
        await asyncio.sleep(1)
        decoded_again, _ = await rate(2)
    # every frame (25 fps) while detecting, keyframes only (1/s) without: far apart even on a loaded machine
    assert decoded_on > 10, f"every frame (25 fps) should be decoded while detecting: {decoded_on}"
    assert 1.3 <= detect_fps <= 2.5, f"frames above detect.fps must be dropped: {detect_fps}"
    assert decoded_off < 2.5, f"keyframes only (1/s) once detection is off: {decoded_off}"
    assert detect_off == 0
    assert decoded_again > 10, f"every frame decoded again once detection is back on: {decoded_again}"


async def test_mask_drops_objects_and_zones_are_reported(broker, rtsp, prefix):
    bottom = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    left = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    detect = detect_section(mask=[bottom], zones={"left": left}, motion={"gate": False})
    config = make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.wait(lambda: len(rec.on(f"{prefix}/street/events")) >= 10, 30, "10 events")
        assert bridge.detectors["street"].stats.runs > 0
    events = [json.loads(m.payload) for m in rec.on(f"{prefix}/street/events")]
    for event in events:
        x1, _y1, x2, y2 = event["box"]
        assert y2 < 0.5 + 0.01, f"an object standing in the mask became an event: {event}"
        assert ("left" in event["zones"]) == ((x1 + x2) / 2 <= 0.5), event
    assert any("left" in e["zones"] for e in events) and any(not e["zones"] for e in events)


def _events(rec, topic):
    return [json.loads(m.payload) for m in rec.on(topic)]


async def _people_tracked(rec, base):
    """Wait until people are tracked (a ``new`` event, a count above 0)."""
    await rec.wait(lambda: [e for e in _events(rec, f"{base}/events") if e["type"] == "new"], 30, "a person new event")
    await rec.wait(lambda: [m for m in rec.on(f"{base}/person") if int(m.payload or 0) > 0], 10, "count > 0")


async def _all_ended(rec, base, ids, since):
    ended = await rec.wait(lambda: (lambda got: got if {e["id"] for e in got} >= ids else None)(
        [e for e in _events(rec, f"{base}/events") if e["type"] == "end"]), 10, "every event ended")
    await rec.wait(lambda: rec.on(f"{base}/person", since) and rec.on(f"{base}/person")[-1].payload == b"0",
                   10, "count back to 0")
    await rec.wait(lambda: rec.on(f"{base}/motion") and rec.on(f"{base}/motion")[-1].payload == b"OFF",
                   10, "motion OFF")
    return {e["id"]: e for e in ended if e["id"] in ids}


async def test_events_end_when_the_stream_is_lost(broker, own_rtsp, prefix):
    """The camera's RTSP server dies while people are tracked: every open event ends with
    ``end_reason: stream_lost``, the count goes to 0 (occupancy off) and motion to OFF, without
    waiting for frames that will not come."""
    config = make_config(broker.port, prefix, {"street": {"url": own_rtsp.url, "detect": detect_section()}})
    base = f"{prefix}/street"
    async with recording(broker.port, prefix) as rec, running(config):
        await _people_tracked(rec, base)
        own_rtsp.kill()
        ids = {e["id"] for e in _events(rec, f"{base}/events") if e["type"] == "new"}
        lost = time.monotonic()
        ended = await _all_ended(rec, base, ids, lost)
    assert {e["end_reason"] for e in ended.values()} == {"stream_lost"}, ended
    assert all(e["end_time"] is not None for e in ended.values())


async def test_events_end_when_the_camera_or_its_detection_is_switched_off(broker, rtsp, prefix):
    """Switching the camera off ends the open events as ``stream_lost``; switching detection
    off ends them as ``detection_off``; both reset the count and motion."""
    config = make_config(broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect_section()}})
    base = f"{prefix}/street"
    async with recording(broker.port, prefix) as rec, running(config), \
            aiomqtt.Client("127.0.0.1", broker.port) as client:
        await _people_tracked(rec, base)
        await client.publish(f"{base}/enabled/set", "OFF", qos=1)
        ids = {e["id"] for e in _events(rec, f"{base}/events") if e["type"] == "new"}
        switched = time.monotonic()
        by_camera = await _all_ended(rec, base, ids, switched)

        seen = {e["id"] for e in _events(rec, f"{base}/events")}
        await client.publish(f"{base}/enabled/set", "ON", qos=1)
        await rec.wait(lambda: [e for e in _events(rec, f"{base}/events") if e["type"] == "new"
                                and e["id"] not in seen], 30, "people tracked again")
        await rec.wait(lambda: rec.on(f"{base}/person") and int(rec.on(f"{base}/person")[-1].payload) > 0,
                       10, "count > 0 again")
        again = {e["id"] for e in _events(rec, f"{base}/events") if e["type"] == "new"} - seen
        await client.publish(f"{base}/detect/set", "OFF", qos=1)
        by_detection = await _all_ended(rec, base, again, time.monotonic())
    # switched off and on again: its entities (discovery) and retained state stay
    cleared = [m.topic for m in rec.messages if not m.payload]
    assert not cleared, f"retained topics cleared by switching the camera: {cleared}"
    assert {e["end_reason"] for e in by_camera.values()} == {"stream_lost"}, by_camera
    assert {e["end_reason"] for e in by_detection.values()} == {"detection_off"}, by_detection
