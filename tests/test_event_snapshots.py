"""Full-resolution event snapshots: the camera's ring of recent compressed keyframes (real RTSP
server), pictures drawn at the snapshot stream's size with the box scaled, a crop of the box, and
the snapshot on the broker before its ``new`` event while the real Mosquitto is paused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import cv2
import numpy as np

from bridge.camera import Camera
from bridge.capture import Frame, Need
from bridge.config import camera_from_data
from bridge.detect.best import BestSnapshots
from bridge.detect.tracker import Track

from .conftest import make_config, recording, running
from .peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"


def _track(box) -> Track:
    return Track("ev1", "person", box, 0.9, time.time(), top_score=0.9)


async def test_camera_keeps_its_latest_keyframes_compressed_and_decodes_the_nearest(rtsp):
    config = camera_from_data("ring", {"url": rtsp.url, "event_snapshot": {"keyframes": 3}})
    async with Camera(config) as camera:
        sub = camera.subscribe(Need(keyframes_only=True))
        deadline = time.monotonic() + 15
        while len(camera.keyframes) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.2)  # two more keyframes (GOP 1 s): the ring stays at 3
        ring = camera.keyframes
        assert len(ring) == 3
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
