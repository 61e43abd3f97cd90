"""Privacy masks: the masked area is black in every picture (MQTT snapshot, snapshot.jpg,
MJPEG, detection snapshot, timelapse frame) and nothing inside it is detected."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.capture.mask import PrivacyMask, raster
from bridge.config import ConfigError, parse

from ..conftest import make_config, recording, running
from ..peers import SHARED

MODEL = SHARED / "models" / "yolox_nano.onnx"
LEFT_HALF = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
WHOLE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return image


def assert_left_half_black(image: np.ndarray) -> None:
    """Left half uniformly black (a few pixels kept clear of the edge: JPEG blocks ring); the
    right half is the street, not black."""
    width = image.shape[1]
    masked = image[:, : int(width * 0.5) - 16]
    assert int(masked.max()) <= 12, f"masked area not black: max {masked.max()}"
    assert float(image[:, int(width * 0.5) + 16:].mean()) > 40


def test_raster_marks_pixel_centres_inside_the_polygon():
    grid = raster([tuple(map(tuple, LEFT_HALF))], 8, 4)
    assert grid[:, :4].all() and not grid[:, 4:].any()
    triangle = raster([((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))], 100, 100)
    assert abs(triangle.mean() - 0.5) < 0.02 and triangle[0, 0] and not triangle[99, 99]
    mask = PrivacyMask([((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))])
    y, cb, cr = mask.apply_planes((np.full((8, 8), 200, np.uint8), np.full((4, 4), 90, np.uint8),
                                   np.full((4, 4), 160, np.uint8)))
    assert (y[2:6, 2:6] == 0).all() and y[0, 0] == 200 and cb[1, 1] == 128 and cr[0, 0] == 160


@pytest.mark.parametrize(("masks", "path", "found"), [
    ([[[0, 0], [1, 0]]], "cameras.porch.privacy_masks.0", "[[0, 0], [1, 0]]"),
    ([[[0, 0], [1.5, 0], [0, 1]]], "cameras.porch.privacy_masks.0.1", "[1.5, 0]"),
    ("left", "cameras.porch.privacy_masks", "'left'"),
])
def test_bad_masks_name_the_polygon_and_point(masks, path, found):
    text = "mqtt: {host: h}\ncameras:\n  porch:\n    url: lavfi:testsrc\n    privacy_masks: " + json.dumps(masks) + "\n"
    with pytest.raises(ConfigError) as info:
        parse(text, {})
    assert any(e.startswith(path + ":") and found in e for e in info.value.errors), info.value.errors


async def test_every_published_picture_is_masked(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {
        "street": {"url": rtsp.url, "snapshot": {"interval": 0}, "privacy_masks": [LEFT_HALF]},
        "small": {"url": rtsp.url, "snapshot": {"interval": 0, "max_width": 640}, "privacy_masks": [LEFT_HALF]},
    })
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        full = await rec.next_on(f"{prefix}/street/snapshot", 0)
        small = await rec.next_on(f"{prefix}/small/snapshot", 0)
        url = f"http://127.0.0.1:{bridge.api.port}/api/cameras/street"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/snapshot.jpg") as resp:
                assert resp.status == 200
                served = await resp.read()
            async with http.get(f"{url}/mjpeg") as resp:
                assert resp.status == 200
                buffer = b""
                while buffer.count(b"\xff\xd9") < 1:
                    buffer += await asyncio.wait_for(resp.content.read(65536), 10)
                start = buffer.index(b"\xff\xd8")
                mjpeg = buffer[start:buffer.index(b"\xff\xd9", start) + 2]
    for jpeg in (full.payload, small.payload, served, mjpeg):
        assert_left_half_black(decode(jpeg))
    assert decode(small.payload).shape == (360, 640, 3)


async def test_nothing_is_detected_inside_a_mask(broker, rtsp, prefix):
    detect = {"enabled": True, "fps": 5, "model": str(MODEL)}
    config = make_config(broker.port, prefix, {
        "masked": {"url": rtsp.url, "detect": detect, "privacy_masks": [WHOLE]},
        "open": {"url": rtsp.url, "detect": detect},
        "half": {"url": rtsp.url, "detect": detect, "privacy_masks": [LEFT_HALF]},
    })
    async with recording(broker.port, prefix) as rec, running(config):
        # the same footage without a mask finds people: the masked camera had the same chance
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/open/events")
                                if json.loads(m.payload)["type"] == "new"], 40, "a person on the open camera")
        start = time.monotonic()
        await rec.wait(lambda: time.monotonic() - start > 3, 5, "3 s more")
        snapshot = await rec.next_on(f"{prefix}/masked/snapshot", 0)
        person = await rec.wait(lambda: rec.on(f"{prefix}/half/person/snapshot"), 30, "a person on the half-masked camera")
    assert rec.on(f"{prefix}/masked/events") == []
    # the detection snapshot is masked too (its red box may cross into the mask: blue and green only)
    boxed = decode(person[0].payload)
    assert int(boxed[:, : boxed.shape[1] // 2 - 16, :2].max()) <= 16
    assert all(m.payload in (b"0", b"OFF") for m in rec.on(f"{prefix}/masked/person")
               + rec.on(f"{prefix}/masked/motion"))
    assert int(decode(snapshot.payload).max()) <= 12


async def test_timelapse_frames_are_masked(broker, prefix):
    config = make_config(broker.port, prefix, {
        "cam": {"url": "lavfi:testsrc2=size=320x240:rate=5", "privacy_masks": [LEFT_HALF]}},
        sections={"timelapse": {"fps": 10, "min_free_mb": 1},
                  "timelapses": {"tl": {"camera": "cam", "interval": 1}}})
    async with running(config) as bridge, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{bridge.api.port}/api/timelapses/tl"
        deadline = time.monotonic() + 20
        while bridge.timelapses.get("tl").frames < 1:
            assert time.monotonic() < deadline, "no timelapse frame"
            await asyncio.sleep(0.1)
        async with http.get(f"{base}/frames") as resp:
            frame = (await resp.json())["frames"][0]
        async with http.get(f"http://127.0.0.1:{bridge.api.port}{frame['url']}") as resp:
            assert resp.status == 200
            image = decode(await resp.read())
    assert image.shape == (240, 320, 3)
    assert int(image[:, : 160 - 16].max()) <= 12 and float(image[:, 176:].mean()) > 40
