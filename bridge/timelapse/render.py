"""Timelapse videos: ffmpeg (a subprocess) turns the kept frames into an H.264 MP4.

The frames go through ffmpeg's concat demuxer (one entry per JPEG, each shown ``1/fps`` s, its
local capture time attached as packet metadata for the optional ``drawtext`` overlay), are
scaled and padded to one even size, and encoded with libx264, ``yuv420p`` (what every player
decodes), ``-crf`` and ``-movflags +faststart`` (playable while it downloads). Progress comes
from ``-progress pipe:1`` (``frame=N`` lines) and is reported as a monotonic percentage with an
ETA. The output is written to a hidden temp file and renamed only when ffmpeg succeeded, so a
cancel (the process is killed) or a failure leaves no partial video.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np

from ..errors import BridgeError
from .archive import TEMP_PREFIX, TEMP_SUFFIX, atomic_write, commit_file

_LOGGER = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
THUMBNAIL_WIDTH = 320  #: pixels
THUMBNAIL_QUALITY = 80  #: JPEG quality
STDERR_TAIL = 5  #: ffmpeg error lines kept for the error message
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M"


class RenderError(BridgeError):
    """Raised when ffmpeg fails (``message`` holds the end of its error output) or there is
    nothing to render."""


#: the highest percent of a render still running (100 is reported only with ``done``)
LAST_PERCENT = 99.9


@dataclass(frozen=True)
class Progress:
    """Render progress: ``percent`` 0-100 (never decreasing), ``frames`` encoded of ``total``,
    ``eta`` seconds left (None until measurable), ``elapsed`` seconds."""

    percent: float
    frames: int
    total: int
    eta: float | None
    elapsed: float

    def as_payload(self) -> dict[str, float | int | None]:
        return {
            "percent": round(self.percent, 1),
            "frames": self.frames,
            "total": self.total,
            "eta_s": None if self.eta is None else round(self.eta, 1),
            "elapsed_s": round(self.elapsed, 1),
        }


@dataclass(frozen=True)
class Rendered:
    """A finished video: ``frames``, ``duration`` seconds, ``width``/``height`` pixels, ``size``
    bytes."""

    frames: int
    duration: float
    width: int
    height: int
    size: int


def output_size(width: int, height: int, wanted: int | None) -> tuple[int, int]:
    """Even video size for frames of ``width`` x ``height`` pixels scaled to ``wanted`` wide."""
    out_w = wanted or width
    out_w -= out_w % 2
    out_h = max(2, round(height * out_w / width / 2) * 2)
    return max(2, out_w), out_h


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def concat_list(frames: list[tuple[Path, float]], fps: int, tz: tzinfo | None, timestamp: bool) -> str:
    """The concat demuxer script: each frame shown ``1/fps`` s, with its local capture time as
    ``capture_time`` packet metadata when ``timestamp`` is on."""
    lines = ["ffconcat version 1.0"]
    for path, captured_at in frames:
        lines.append(f"file {_quote(path)}")
        if timestamp:
            local = datetime.fromtimestamp(captured_at, tz) if tz else datetime.fromtimestamp(captured_at)
            lines.append(f"file_packet_metadata 'capture_time={local.strftime(TIMESTAMP_FORMAT)}'")
        lines.append(f"duration {1 / fps:.6f}")
    return "\n".join(lines) + "\n"


def command(list_file: Path, out: Path, *, fps: int, size: tuple[int, int], crf: int, timestamp: bool) -> list[str]:
    """The ffmpeg command line."""
    width, height = size
    filters = [
        f"scale={width}:{height}:force_original_aspect_ratio=decrease",
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2",
        "setsar=1",
    ]
    if timestamp:
        font = max(12, height // 24)
        filters.append(
            f"drawtext=text='%{{metadata\\:capture_time}}':x=w-tw-{font}:y=h-th-{font}:"
            f"fontsize={font}:fontcolor=white:box=1:boxcolor=black@0.5:boxborderw={font // 4}"
        )
    filters.append("format=yuv420p")
    return [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(list_file),
        "-vf",
        ",".join(filters),
        "-fps_mode",
        "cfr",
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-an",
        "-f",
        "mp4",
        "-y",
        str(out),
    ]


class ProgressParser:
    """Turns ``-progress`` lines into :class:`Progress` (monotonic percent, at most 99.9: ffmpeg
    ending is not the render ending, the file is still to be committed and recorded, so 100 is
    only reported with the render's ``done``). ``clock`` is injectable for tests."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._start = clock()
        self._percent = 0.0
        self._frames = 0

    def feed(self, line: str) -> Progress | None:
        """A progress update for a ``frame=`` or ``progress=end`` line, else None."""
        key, _, value = line.strip().partition("=")
        if key == "frame" and value.strip().isdigit():
            self._frames = max(self._frames, min(int(value), self.total))
            percent = min(LAST_PERCENT, 100.0 * self._frames / max(1, self.total))
        elif key == "progress" and value.strip() == "end":
            self._frames, percent = self.total, LAST_PERCENT
        else:
            return None
        self._percent = max(self._percent, percent)
        elapsed = self._clock() - self._start
        eta = None
        if self._frames > 0:
            eta = elapsed * (self.total - self._frames) / self._frames
        return Progress(self._percent, self._frames, self.total, eta, elapsed)


async def render(
    frames: list[tuple[Path, float]],
    out: Path,
    *,
    fps: int,
    width: int | None,
    crf: int,
    timestamp: bool,
    tz: tzinfo | None,
    on_progress: Callable[[Progress], None],
) -> Rendered:
    """Render ``frames`` (path, capture time), oldest first, into the MP4 ``out``.

    Cancelling the task kills ffmpeg and removes the partial file. Raises :class:`RenderError`.
    """
    if not frames:
        raise RenderError("no frames to render")
    import cv2  # OpenCV only once a timelapse renders (a snapshot-only bridge never loads it)

    first = await asyncio.to_thread(cv2.imread, str(frames[0][0]), cv2.IMREAD_COLOR)
    if first is None:
        raise RenderError(f"first frame {frames[0][0].name} does not decode")
    size = output_size(first.shape[1], first.shape[0], width)
    listing = out.with_name(f"{TEMP_PREFIX}{out.stem}.list{TEMP_SUFFIX}")
    partial = out.with_name(f"{TEMP_PREFIX}{out.name}.part{TEMP_SUFFIX}")
    out.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text(concat_list(frames, fps, tz, timestamp), encoding="utf-8")
    parser = ProgressParser(len(frames))
    proc = await asyncio.create_subprocess_exec(
        *command(listing, partial, fps=fps, size=size, crf=crf, timestamp=timestamp),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    errors: list[str] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        stderr_task = asyncio.create_task(_tail(proc.stderr, errors), name=f"ffmpeg[{out.name}].stderr")
        try:
            async for raw in proc.stdout:
                update = parser.feed(raw.decode("utf-8", "replace"))
                if update is not None:
                    on_progress(update)
            code = await proc.wait()
        finally:
            stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stderr_task
        if code != 0:
            raise RenderError(f"ffmpeg exited with {code}: {' | '.join(errors) or 'no message'}")
        await asyncio.to_thread(commit_file, partial, out)
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            listing.unlink()
    return Rendered(len(frames), len(frames) / fps, size[0], size[1], out.stat().st_size)


async def _tail(stream: asyncio.StreamReader, lines: list[str]) -> None:
    async for raw in stream:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            lines.append(text)
            del lines[:-STDERR_TAIL]


def thumbnail(source: Path, out: Path, width: int = THUMBNAIL_WIDTH) -> bool:
    """Write a JPEG thumbnail ``width`` pixels wide of the image ``source`` atomically; False
    when the source does not decode. Blocking."""
    import cv2  # OpenCV only once a timelapse runs

    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None:
        return False
    height = max(2, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        return False
    atomic_write(out, np.asarray(buf).tobytes())
    return True
