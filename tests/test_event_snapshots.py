"""Full-resolution event snapshots: the camera's ring of recent compressed keyframes (real RTSP
server), pictures drawn at the snapshot stream's size with the box scaled, a crop of the box, and
the snapshot on the broker before its ``new`` event while the real Mosquitto is paused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

import cv2
import numpy as np
import pytest

from bridge.camera import Camera
from bridge.capture import Frame, Need
from bridge.capture.ring import Codec, Compressed
from bridge.config import camera_from_data
from bridge.detect.best import BestSnapshots
from bridge.detect.tracker import Track
from bridge.errors import ConfigError

from .conftest import make_config, recording, running
from .peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"


def _track(box) -> Track:
    return Track("ev1", "person", box, 0.9, time.time(), top_score=0.9)


async def test_camera_keeps_its_latest_keyframes_compressed_and_decodes_the_nearest(rtsp):
    # the snapshot stream (0) is not the detect stream (1): its keyframes are kept
    config = camera_from_data("ring", {"streams": [{"url": rtsp.url, "roles": ["snapshot"]},
                                                   {"url": rtsp.url, "roles": ["detect"]}],
                                       "event_snapshot": {"keyframes": 3}})
    camera = Camera(config)
    ring = camera.keep_keyframes()
    assert ring is not None and camera.keep_keyframes() is ring and camera.streams[0].keyframes is ring
    assert camera.streams[1].keyframes is None  # the detect stream keeps none
    async with camera:
        sub = camera.subscribe(Need(keyframes_only=True), "snapshot")
        deadline = time.monotonic() + 15
        while len(ring) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        sizes = []
        for _ in range(12):  # two more keyframes (GOP 1 s): the ring stays at 3
            await asyncio.sleep(0.2)
            sizes.append(len(ring))
        assert max(sizes) <= 3 and len(ring) == 3, f"ring sizes {sizes}"
        assert camera.status.reconnects == 0, "the connection was lost: the ring started again"
        # compressed: a 720p keyframe is tens of KiB, a decoded picture 1.4 MB
        assert 0 < ring.bytes < 3 * 1280 * 720 * 3 // 2 // 4
        latest = await sub.next()
        picture = ring.nearest(latest.time)
        assert picture is not None and abs(picture.time - latest.time) < 0.2
        oldest = ring.nearest(0.0)
        assert oldest is not None and latest.time - oldest.time > 1.5
        y, _cb, _cr = picture.yuv420()
        assert y.shape == (720, 1280)
        # an event on a small detection frame is drawn on the ring's full-size keyframe
        small = Frame(latest.time, latest.monotonic, 640, 360, True,
                      av_frame=(await sub.next())._decoded().reformat(width=640, height=360))
        box = (0.25, 0.2, 0.5, 0.8)
        pics = BestSnapshots(None, 90).make(small, [("new", _track(box))], time.monotonic(),
                                            lambda frame: ring.nearest(frame.time))
    pic = pics["person"]
    assert (pic.width, pic.height) == (1280, 720)
    image = cv2.imdecode(np.frombuffer(pic.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (720, 1280, 3)
    red = (image[:, :, 2] > 160) & (image[:, :, 1] < 90) & (image[:, :, 0] < 90)
    top, left, right = round(0.2 * 719), round(0.25 * 1279), round(0.5 * 1279)
    assert red[top - 3:top + 4, left:right + 1].any(axis=0).mean() > 0.8
    crop = cv2.imdecode(np.frombuffer(pic.crop, np.uint8), cv2.IMREAD_COLOR)
    # the box (320x432 pixels) grown by a quarter of its size on each side
    assert abs(crop.shape[1] - 480) <= 4 and abs(crop.shape[0] - 648) <= 4


def test_a_one_stream_camera_keeps_no_keyframe_ring():
    camera = Camera(camera_from_data("one", {"url": "rtsp://cam/x"}))
    assert camera.keep_keyframes() is None and camera.snapshot_ring is None
    frame = Frame(1.0, 1.0, 1280, 720, True)
    assert camera.snapshot_picture(frame) is frame  # the detection frame is the snapshot stream's picture


def test_the_keyframe_ring_is_bounded_by_bytes_too():
    import av

    config = camera_from_data("big", {"streams": [{"url": "rtsp://cam/main", "roles": ["snapshot"]},
                                                  {"url": "rtsp://cam/sub", "roles": ["detect"]}],
                                      "event_snapshot": {"keyframes": 120, "max_memory_mb": 16}})
    ring = Camera(config).keep_keyframes()
    assert ring is not None and ring.max_bytes == 2 * 1024 * 1024  # an eighth of 16 MiB
    ring.opened(Codec("h264", None, 3840, 2160))
    for i in range(40):  # 4K keyframes of 300 KiB: 120 would hold 35 MiB
        ring.add(Compressed(float(i), float(i), True, av.Packet(bytes(300 * 1024))))
    assert ring.bytes <= 2 * 1024 * 1024 and len(ring) == 6
    oldest = ring.nearest(0.0)
    assert oldest is not None and oldest.time == 34.0  # the oldest went first
    ring.add(Compressed(99.0, 99.0, True, av.Packet(bytes(3 * 1024 * 1024))))  # bigger than the cap alone
    assert len(ring) == 1 and ring.bytes == 3 * 1024 * 1024  # the newest always stays


def _two_stream_ring():
    import av

    camera = Camera(camera_from_data("two", {"streams": [{"url": "rtsp://cam/main", "roles": ["snapshot"]},
                                                         {"url": "rtsp://cam/sub", "roles": ["detect"]}]}))
    ring = camera.keep_keyframes()
    assert ring is not None
    ring.opened(Codec("h264", None, 1920, 1080))

    def add(at: float, delay: float = 0.0) -> None:
        def later() -> None:
            time.sleep(delay)
            ring.add(Compressed(at, time.monotonic(), True, av.Packet(b"k")))
        if delay:
            threading.Thread(target=later, daemon=True).start()
        else:
            later()
    return camera, add


def test_an_event_snapshot_waits_for_the_next_keyframe_when_it_will_be_nearer():
    camera, add = _two_stream_ring()
    now = time.time()
    add(now - 0.8)  # the newest keyframe is 0.8 s older than the detection frame
    add(now + 0.1, delay=0.1)  # the next one arrives 0.1 s after it
    picture = camera.snapshot_picture(Frame(now, time.monotonic(), 640, 360, True))
    assert picture.time == now + 0.1 and (picture.width, picture.height) == (1920, 1080)


def test_an_event_snapshot_does_not_wait_past_the_point_where_the_older_keyframe_is_nearer():
    camera, add = _two_stream_ring()
    now = time.time()
    add(now - 0.2)
    add(now + 0.9, delay=0.9)  # too late: 0.9 s after the detection, the older one is 0.2 s away
    started = time.monotonic()
    picture = camera.snapshot_picture(Frame(now, time.monotonic(), 640, 360, True))
    waited = time.monotonic() - started
    assert picture.time == now - 0.2
    assert waited < 0.7, f"waited {waited:.2f} s for a keyframe that could not be nearer"


def test_ring_memory_is_validated():
    with pytest.raises(ConfigError, match=r"event_snapshot\.max_memory_mb.*16"):
        camera_from_data("cam", {"url": "rtsp://cam/x", "event_snapshot": {"max_memory_mb": 8}})
    budget = camera_from_data("cam", {"url": "rtsp://cam/x"}).event_snapshot.ring_budget()
    assert budget == (32 * 1024 * 1024, 32 * 1024 * 1024, 192 * 1024 * 1024) and sum(budget) == 256 * 1024 * 1024


async def test_event_snapshot_reaches_the_broker_before_its_new_event_with_a_paused_broker(own_broker, rtsp, prefix):
    detect = {"enabled": True, "fps": 5, "model": str(MODEL), "max_disappeared": 2}
    config = make_config(own_broker.port, prefix, {"street": {"url": rtsp.url, "detect": detect}})
    base = f"{prefix}/street"
    async with recording(own_broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{base}/detect/state"), 15, "detection on")
        assert own_broker.proc is not None
        for _ in range(3):  # the broker hangs while events and snapshots are queued
            os.kill(own_broker.proc.pid, signal.SIGSTOP)
            await asyncio.sleep(2.5)
            os.kill(own_broker.proc.pid, signal.SIGCONT)
            await asyncio.sleep(2.0)
        await rec.wait(lambda: [m for m in rec.on(f"{base}/events") if json.loads(m.payload)["snapshot_available"]],
                       30, "an event with its snapshot")
        messages = list(rec.messages)
    seen_snapshot = False
    checked = 0
    for msg in messages:
        if msg.topic == f"{base}/person/snapshot" and msg.payload:
            seen_snapshot = True
        elif msg.topic == f"{base}/events":
            event = json.loads(msg.payload)
            if event["type"] == "new" and event["snapshot_available"]:
                checked += 1
                assert seen_snapshot, f"new event {event['id']} arrived before any snapshot"
    assert checked >= 1
    crops = [m for m in messages if m.topic == f"{base}/person/snapshot/crop" and m.payload]
    assert crops and cv2.imdecode(np.frombuffer(crops[0].payload, np.uint8), cv2.IMREAD_COLOR) is not None
