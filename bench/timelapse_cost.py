"""Timelapse cost benchmark: what one captured frame and one render cost on this machine.

What: (1) the per-frame work of a running timelapse, as the manager does it in the encoder
thread: BGR -> JPEG (quality 90) and the quality checks (exposure, uniformity, blur, sudden
change against the previous frame), for 1280x720 and 1920x1080 frames of the shared street
footage; (2) an ffmpeg render (concat of JPEGs -> H.264 yuv420p CRF 23, veryfast, timestamp
overlay) of ``--frames`` 1920x1080 frames scaled to 1920 and to 1280 pixels wide.

How: (1) median and 95th percentile wall time over ``--repeat`` frames in this process (one
thread, as in the bridge); (2) wall time of the render and CPU seconds of the ffmpeg child
(``resource.getrusage(RUSAGE_CHILDREN)``), frames per second of render throughput.

Why it matters: a timelapse at its shortest interval (1 s) should cost a small fraction of a
core, and a day of frames (~500 at a 2-minute interval) should render in well under a minute.
Targets: per-frame work at 1080p <= 100 ms (10 % of a core at 1 frame/s); render >= 25 frames/s
at 1920 wide. Prints a table and PASS/FAIL; ``--json OUT`` writes the figures. Run from the repo
root: ``python bench/timelapse_cost.py [--frames N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.timelapse.quality import check  # noqa: E402
from bridge.timelapse.render import render  # noqa: E402
from tests.peers import PEDESTRIANS  # noqa: E402


def clip_frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(PEDESTRIANS))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


def per_frame(size: tuple[int, int], repeat: int) -> dict[str, float]:
    times, previous = [], None
    for image in clip_frames(repeat, size):
        start = time.perf_counter()
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        verdict = check(buf.tobytes(), image, previous)
        times.append(time.perf_counter() - start)
        previous = verdict.gray
    times.sort()
    return {"median_ms": statistics.median(times) * 1000, "p95_ms": times[int(len(times) * 0.95) - 1] * 1000}


def render_cost(folder: Path, count: int, width: int) -> dict[str, float]:
    frames = []
    for i, image in enumerate(clip_frames(min(count, 60), (1920, 1080))):
        path = folder / f"{i:04d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames.append(path)
    entries = [(frames[i % len(frames)], 1_782_000_000.0 + 120 * i) for i in range(count)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = asyncio.run(render(entries, folder / f"out{width}.mp4", fps=25, width=width, crf=23,
                                timestamp=True, tz=None, on_progress=lambda _p: None))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"frames": result.frames, "wall_s": wall, "ffmpeg_cpu_s": cpu, "fps": result.frames / wall,
            "size_mb": result.size / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=500, help="frames per render (default 500)")
    parser.add_argument("--repeat", type=int, default=60, help="frames timed per size (default 60)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        figures[f"frame_{name}"] = per_frame(size, args.repeat)
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        for width in (1920, 1280):
            figures[f"render_{width}"] = render_cost(Path(tmp), args.frames, width)
    print("| measurement | figures |\n| --- | --- |")
    for key, values in figures.items():
        print(f"| {key} | " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()) + " |")
    checks = {"per-frame work at 1080p <= 100 ms (median)": figures["frame_1080p"]["median_ms"] <= 100,
              "render at 1920 wide >= 25 frames/s": figures["render_1920"]["fps"] >= 25}
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
