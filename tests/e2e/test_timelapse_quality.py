"""Frame quality checks on real frames (the shared street footage): good frames pass; grey,
black, white, blurred, truncated, undecodable and sudden-change frames are discarded with the
right reason; a running timelapse enters ``degraded`` on bad frames (MQTT, metrics, SQLite
count them) and leaves it on good ones."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.config import camera_from_data
from bridge.timelapse.quality import Baseline, check, decode

from ..conftest import make_config, recording, running
from ..peers import PEDESTRIANS, SHARED, make_clip

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


BEACH = SHARED / "media" / "kite_and_cold.jpg"


def sky_frames(brighter: int = 0) -> list[np.ndarray]:
    """Real overcast sky (the top left of the beach photo, no kite), as 1280x720 camera frames
    of a slowly panning camera; ``brighter`` adds to every pixel (a brighter day)."""
    beach = cv2.imread(str(BEACH))
    frames = []
    for dx in range(0, 40, 8):
        crop = beach[0:150, dx:dx + 260]
        frame = cv2.resize(crop, (1280, 720), interpolation=cv2.INTER_CUBIC)
        frames.append(cv2.convertScaleAbs(frame, alpha=1.0, beta=brighter))
    return frames


def run(frames: list[np.ndarray]) -> list:
    """Check frames in order as the recorder does: each against the previous kept frame and the
    baseline of the kept ones."""
    previous, kept, verdicts = None, [], []
    for frame in frames:
        verdict = check(jpeg(frame), None, previous, Baseline.of(kept[-15:]))
        verdicts.append(verdict)
        if verdict.kept(0.5):
            previous = verdict.gray
            kept.append(verdict.measures)
    return verdicts


@pytest.mark.parametrize("brighter", [0, 12])
def test_an_overcast_sky_is_kept(brighter):
    """Bright, flat, soft: an absolute check alone calls these frames uniform or overexposed."""
    frames = sky_frames(brighter)
    alone = [check(jpeg(f), None, None, Baseline(mean=120.0, std=50.0, sharpness=0.4)) for f in frames]
    assert any(not v.kept(0.5) and v.reason in ("uniform", "overexposed") for v in alone), \
        [v.scores for v in alone]  # judged against a detailed scene they would go
    verdicts = run(frames)
    assert all(v.kept(0.5) for v in verdicts), [v.scores for v in verdicts]


def test_faults_of_a_detailed_scene_are_not_forgiven(street):
    """Against a street baseline, a frame as flat or bright as a sky is discarded; hard fails
    (grey, white, blurred beyond recognition) are discarded whatever the baseline."""
    kept = [v.measures for v in run(street[:5])]
    street_base = Baseline.of(kept)
    washed = cv2.addWeighted(street[5], 0.12, np.full_like(street[5], 235), 0.88, 0)
    verdict = check(jpeg(washed), None, None, street_base)
    assert not verdict.kept(0.5) and verdict.reason in ("uniform", "overexposed"), verdict.scores
    sky_base = Baseline.of([v.measures for v in run(sky_frames(12))])
    for make, reason in ((lambda f: np.full_like(f, 128), "uniform"),
                         (lambda f: np.full_like(f, 255), "overexposed"),
                         (lambda f: cv2.GaussianBlur(f, (0, 0), 12), "blurred")):
        for base in (None, street_base, sky_base):
            verdict = check(jpeg(make(street[0])), None, None, base)
            assert not verdict.kept(0.5) and verdict.reason == reason, (reason, base, verdict.scores)


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
        stored = await asyncio.to_thread(bridge.timelapses.archive.discards, "tl")
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


@pytest.fixture(scope="module")
def sky_clip(tmp_path_factory) -> str:
    """A 4 s H.264 camera clip of the overcast sky, slowly panning (real ffmpeg)."""
    folder = tmp_path_factory.mktemp("sky")
    still = folder / "sky.png"
    cv2.imwrite(str(still), cv2.resize(cv2.imread(str(BEACH))[0:160, 0:290], (1408, 792),
                                       interpolation=cv2.INTER_CUBIC))
    out = folder / "sky.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-t", "4", "-i", str(still), "-vf",
                    "crop=1280:720:x='t*20':y=0,fps=5", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-g", "5", "-an", str(out)], check=True)
    return str(out)


async def test_a_sky_timelapse_keeps_its_frames_and_a_restart_compares_with_the_last_one(
        broker, prefix, tmp_path, sky_clip):
    """A timelapse of the sky keeps its frames (none discarded as uniform/overexposed). After a
    restart the first frame is compared with the last kept one: the camera now shows a street
    (knocked over while the bridge was down), a sudden change, discarded."""
    tl = {"timelapses": {"sky": {"camera": "cam", "interval": 1}}}
    config = make_config(broker.port, prefix, {"cam": {"url": sky_clip}}, data_dir=tmp_path, sections=tl)
    async with running(config) as bridge:
        rt = bridge.timelapses.get("sky")
        deadline = asyncio.get_running_loop().time() + 30
        while rt.frames < 3:
            assert asyncio.get_running_loop().time() < deadline, (rt.frames, rt.discarded, rt.last_score)
            await asyncio.sleep(0.1)
        assert not rt.discarded, rt.discarded
    street = make_clip(tmp_path / "street.mp4", width=640, height=360, fps=5, gop=5, seconds=4)
    config = make_config(broker.port, prefix, {"cam": {"url": str(street)}}, data_dir=tmp_path, sections=tl)
    async with running(config) as bridge:
        rt = bridge.timelapses.get("sky")
        kept = rt.frames
        deadline = asyncio.get_running_loop().time() + 30
        while not rt.discarded:
            assert asyncio.get_running_loop().time() < deadline, (rt.frames, rt.discarded)
            await asyncio.sleep(0.1)
        assert rt.frames == kept and list(rt.discarded) == ["sudden_change"], rt.discarded
