"""Real ffmpeg renders of timelapse frames (frames of the shared street footage): ffprobe
confirms codec, pixel format, size, frame count and duration, the MP4 is fast-start, progress is
monotonic and ends at 100 %, the timestamp overlay is drawn, and a cancelled render leaves no
partial video."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.timelapse.render import ProgressParser, RenderError, render, thumbnail

from ..peers import PEDESTRIANS

START = 1_782_000_000.0  #: capture time of the first frame (epoch seconds)


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[tuple[Path, float]]:
    """Twelve 640x360 JPEGs of the street clip, "captured" a minute apart."""
    folder = tmp_path_factory.mktemp("frames")
    cap = cv2.VideoCapture(str(PEDESTRIANS))
    out, index = [], 0
    while len(out) < 12:
        ok, image = cap.read()
        assert ok
        if index % 15 == 0:
            path = folder / f"{len(out):03d}.jpg"
            cv2.imwrite(str(path), cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA))
            out.append((path, START + 60 * len(out)))
        index += 1
    cap.release()
    return out


def probe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,pix_fmt,width,height,nb_read_frames,avg_frame_rate:format=duration",
         "-of", "json", str(path)], check=True, capture_output=True, text=True)
    data = json.loads(result.stdout)
    return {**data["streams"][0], **data["format"]}


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        offset += size
    return boxes


async def test_render_is_h264_yuv420p_faststart_with_every_frame(frames, tmp_path):
    updates = []
    out = tmp_path / "videos" / "v.mp4"
    result = await render(frames, out, fps=6, width=320, crf=28, timestamp=True, tz=None,
                          on_progress=updates.append)
    info = probe(out)
    assert info["codec_name"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (320, 180) == (result.width, result.height)
    assert int(info["nb_read_frames"]) == len(frames) == result.frames
    assert float(info["duration"]) == pytest.approx(len(frames) / 6, abs=0.05)
    assert info["avg_frame_rate"] == "6/1"
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart
    assert result.size == out.stat().st_size
    percents = [u.percent for u in updates]
    # ffmpeg done: every frame encoded, nothing left to wait for, but not 100 % (the renderer
    # says 100 with "done", once the video is committed)
    assert percents == sorted(percents) and percents[-1] == 99.9
    assert updates[-1].frames == updates[-1].total == len(frames) and updates[-1].eta == 0.0
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.mp4"]  # no list or temp file left


async def test_timestamp_overlay_is_drawn(frames, tmp_path):
    def first_frame(path: Path) -> np.ndarray:
        cap = cv2.VideoCapture(str(path))
        ok, image = cap.read()
        cap.release()
        assert ok
        return image

    for stamp in (True, False):
        await render(frames[:2], tmp_path / f"{stamp}.mp4", fps=2, width=640, crf=18,
                     timestamp=stamp, tz=None, on_progress=lambda _p: None)
    with_text, without = first_frame(tmp_path / "True.mp4"), first_frame(tmp_path / "False.mp4")
    corner = (slice(300, 360), slice(400, 640))  # the bottom-right corner holds the time
    other = (slice(0, 60), slice(0, 240))
    assert np.mean(cv2.absdiff(with_text[corner], without[corner])) > 15
    assert np.mean(cv2.absdiff(with_text[other], without[other])) < 3


async def test_cancel_kills_ffmpeg_and_leaves_no_partial_video(frames, tmp_path):
    many = [frames[i % len(frames)] for i in range(1500)]  # long enough to still run when cancelled
    out = tmp_path / "videos" / "long.mp4"
    started = asyncio.Event()
    task = asyncio.create_task(render(many, out, fps=25, width=640, crf=18, timestamp=True, tz=None,
                                      on_progress=lambda p: started.set() if p.frames else None))
    await asyncio.wait_for(started.wait(), 30)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(out.parent.iterdir()) == []  # neither the video nor a partial or list file
    ps = subprocess.run(["pgrep", "-f", str(out.parent)], capture_output=True, text=True)
    assert ps.stdout == "", "ffmpeg still running"


async def test_failures_are_reported_and_leave_no_output(frames, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "v" / "x.mp4"
    with pytest.raises(RenderError, match="does not decode"):
        await render([(broken, START)], out, fps=5, width=None, crf=23, timestamp=False, tz=None,
                     on_progress=lambda _p: None)
    with pytest.raises(RenderError, match="no frames"):
        await render([], out, fps=5, width=None, crf=23, timestamp=False, tz=None, on_progress=lambda _p: None)
    with pytest.raises(RenderError, match="ffmpeg exited with 1: .*invalid width x height"):
        await render(frames[:2], out, fps=5, width=20000, crf=23, timestamp=False, tz=None,
                     on_progress=lambda _p: None)
    assert not out.exists() and [p for p in out.parent.iterdir()] == []


def test_progress_parser_is_monotonic_with_an_eta():
    now = [0.0]
    parser = ProgressParser(100, clock=lambda: now[0])
    now[0] = 2.0
    first = parser.feed("frame=25\n")
    assert first.percent == 25.0 and first.eta == pytest.approx(6.0)
    assert parser.feed("fps=12.5") is None
    assert parser.feed("frame=10").percent == 25.0  # never goes back
    assert parser.feed("frame=100").percent == 99.9
    end = parser.feed("progress=end")  # 100 only with the render's "done", after the commit
    assert end.percent == 99.9 and end.frames == 100 and end.eta == 0.0


def test_thumbnail(frames, tmp_path):
    out = tmp_path / "t.jpg"
    assert thumbnail(frames[0][0], out)
    image = cv2.imread(str(out))
    assert image.shape == (180, 320, 3)
    assert not thumbnail(tmp_path / "missing.jpg", tmp_path / "u.jpg")
