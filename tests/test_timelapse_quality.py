"""Frame quality checks on real frames (the shared street footage): good frames pass; grey,
black, white, blurred, truncated, undecodable and sudden-change frames are discarded with the
right reason; a running timelapse enters ``degraded`` on bad frames (MQTT, metrics, SQLite
count them) and leaves it on good ones."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.config import camera_from_data
from bridge.timelapse.quality import check, decode

from .conftest import make_config, recording, running
from .peers import PEDESTRIANS, SHARED

GREY = "lavfi:color=c=gray:size=320x240:rate=5"
GOOD = "lavfi:testsrc2=size=320x240:rate=5"


@pytest.fixture(scope="module")
def street() -> list[np.ndarray]:
    """Seven 1280x720 frames of the street clip, 2 s apart."""
    cap = cv2.VideoCapture(str(PEDESTRIANS))
    frames, index = [], 0
    while len(frames) < 7:
        ok, frame = cap.read()
        assert ok, "the shared clip ended early"
        if index % 50 == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def test_good_frames_pass_and_score_1(street):
    previous = None
    for frame in street:
        verdict = check(jpeg(frame), None, previous)
        assert verdict.kept(0.5) and verdict.score == 1.0 and verdict.reason is None, verdict.scores
        previous = verdict.gray


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("grey", lambda f: np.full_like(f, 128), "uniform"),
    ("black", lambda f: np.zeros_like(f), "dark"),
    ("white", lambda f: np.full_like(f, 255), "overexposed"),
    ("blurred", lambda f: cv2.GaussianBlur(f, (0, 0), 6), "blurred"),
    ("lens cap", lambda f: (f * 0.03).astype(np.uint8), "dark"),
])
def test_bad_frames_are_discarded_with_their_reason(street, name, make, reason):
    verdict = check(jpeg(make(street[0])))
    assert not verdict.kept(0.5), (name, verdict.scores)
    assert verdict.reason == reason and reason in verdict.flags


def test_a_dim_but_sharp_frame_is_kept(street):
    verdict = check(jpeg((street[0] * 0.3).astype(np.uint8)))
    assert verdict.kept(0.5), verdict.scores


def test_truncated_and_undecodable_jpegs(street):
    data = jpeg(street[0])
    assert check(data[: len(data) // 2]).reason == "truncated"
    assert check(data[: len(data) // 2]).score == 0.0
    assert check(b"\xff\xd8not a jpeg\xff\xd9").reason == "undecodable"
    assert check(b"GIF89a....").reason == "undecodable"


def test_sudden_whole_frame_change(street):
    kept = check(jpeg(street[1]), None, check(jpeg(street[0])).gray)
    assert kept.kept(0.5)
    other = cv2.resize(cv2.imread(str(SHARED / "media" / "kite_and_cold.jpg")), (1280, 720))
    jump = check(jpeg(other), None, kept.gray)
    assert not jump.kept(0.5) and jump.reason == "sudden_change"
    brighter = check(jpeg(cv2.convertScaleAbs(street[1], alpha=1.1, beta=15)), None, kept.gray)
    assert brighter.kept(0.5), brighter.scores  # light changes are not a jump


async def test_degraded_enters_on_bad_frames_and_clears_on_good_ones(broker, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": GREY}}, sections={
        "timelapses": {"tl": {"camera": "cam", "interval": 1, "degraded_after": 2}}})
    state_topic = f"{prefix}/timelapse/tl/state"

    def states() -> list[dict]:
        return [json.loads(m.payload) for m in rec.on(state_topic) if m.payload]

    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        degraded = await rec.wait(lambda: [s for s in states() if s["state"] == "degraded"], 20,
                                  "state degraded")
        assert "uniform" in degraded[0]["reason"] and degraded[0]["frames"] == 0
        rt = bridge.timelapses.get("tl")
        assert rt.frames == 0 and rt.discarded["uniform"] >= 2
        stored = await asyncio.to_thread(bridge.timelapses.tstore.discards, "tl")
        assert stored["uniform"] >= 2
        url = f"http://127.0.0.1:{bridge.api.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            metrics = await resp.text()
        assert 'camera_bridge_timelapse_discarded_frames_total{reason="uniform",timelapse="tl"}' in metrics
        assert 'camera_bridge_timelapse_state{state="degraded",timelapse="tl"} 1.0' in metrics

        await bridge.replace_camera(camera_from_data("cam", {"url": GOOD}))
        cleared = await rec.wait(lambda: [s for s in states() if s["state"] == "running" and s["frames"]],
                                 20, "running again with a kept frame")
        assert cleared[0]["reason"] is None
        image = await rec.next_on(f"{prefix}/timelapse/tl/image", 0)
        assert decode(image.payload).shape == (240, 320, 3)
