"""``POST /api/detect``: run the configured detector on an uploaded picture, and the detection
metrics of ``GET /metrics``.

The picture is the request body (``Content-Type: image/jpeg`` or ``image/png``) or the first
file of a ``multipart/form-data`` upload; at most the API's 1 MiB body limit (413 above it),
415 for anything that is not a JPEG or PNG. The detector is the top-level ``detect:`` section's
(HOG without a model), loaded once, run in its own thread, one request at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .errors import ApiError
from .keys import VIEW, control_of, view_of
from .metrics import METRICS
from .work import DETECT

if TYPE_CHECKING:
    from ..core.control import BridgeControl
    from ..core.view import BridgeView

MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
#: larger pictures are refused before decoding (a 1 MiB PNG can hold gigapixels)
MAX_PIXELS = 40_000_000
#: JPEG markers and fill bytes looked at to find the size (the header is near the start)
MAX_MARKERS = 1024
#: JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), which carry the size
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
IMAGE_TYPES = ("image/jpeg", "image/png")


def setup(app: web.Application) -> None:
    """Add ``POST /api/detect`` and the detection metrics."""
    app.router.add_post("/api/detect", detect, name="detect")
    if METRICS in app:
        app[METRICS].registry.register(DetectCollector(app[VIEW]))


async def _upload(request: web.Request) -> bytes:
    """The uploaded picture's bytes (raw body or first multipart file). Raises ApiError 415
    (not an image type) or 400 (malformed multipart)."""
    if request.content_type == "multipart/form-data":
        try:
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and (part.filename is not None or part.name in ("image", "file")):
                    return bytes(await part.read())
        except (ValueError, HttpProcessingError) as err:  # no boundary, a malformed part
            raise ApiError(400, "invalid_upload", f"malformed multipart/form-data: {err}") from None
        raise ApiError(415, "unsupported_media_type", "no file in the multipart/form-data upload")
    if request.content_type not in IMAGE_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"expected image/jpeg, image/png or multipart/form-data, got {request.content_type}",
        )
    return await request.read()


def _run(data: bytes, control: BridgeControl, min_score: float) -> dict[str, Any]:
    import cv2  # OpenCV only once a picture is posted for detection

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the picture does not decode")
    return control.detect_picture(image, min_score)


def picture_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` in pixels from a PNG's IHDR or a JPEG's start-of-frame header,
    without decoding; None when not found."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i, steps = 2, 0
    while i + 9 < len(data) and data[i] == 0xFF and steps < MAX_MARKERS:
        steps += 1  # bounded: a run of fill bytes cannot keep the loop busy
        marker = data[i + 1]
        if marker in _SOF:
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


async def detect(request: web.Request) -> web.Response:
    """Detections in the uploaded picture: ``{detector, width, height, inference_ms,
    detections: [{label, score, box}]}`` (box relative, 0..1). ``?min_score=`` (0-1) overrides
    ``detect.min_score``."""
    config = view_of(request).config.detect
    raw = request.query.get("min_score")
    try:
        min_score = config.min_score if raw is None else float(raw)
    except ValueError:
        min_score = -1.0
    if not 0 <= min_score <= 1:
        raise ApiError(400, "invalid_parameter", "min_score must be a number from 0 to 1")
    data = await _upload(request)
    if not any(data.startswith(magic) for magic in MAGIC):
        raise ApiError(415, "unsupported_media_type", "the upload is not a JPEG or PNG picture")
    size = picture_size(data)
    if size is None:
        raise ApiError(415, "unsupported_media_type", "the picture has no readable size header")
    if size[0] * size[1] > MAX_PIXELS:
        raise ApiError(
            413, "picture_too_large", f"{size[0]}x{size[1]} pixels: at most {MAX_PIXELS // 1_000_000} megapixels"
        )
    try:
        # one inference thread, at most DETECT.limit uploads running or waiting (then 503 busy)
        result = await DETECT.run(_run, data, control_of(request), min_score)
    except ValueError as err:
        raise ApiError(415, "unsupported_media_type", f"the upload is not a usable picture: {err}") from None
    return web.json_response(result)


class DetectCollector(Collector):
    """Detection metrics of one bridge, read from its cameras' detection stats at scrape time:

    * ``camera_bridge_detect_inference_seconds{camera}`` histogram of detector runs
    * ``camera_bridge_detect_runs_total{camera}``, ``..._detect_frames_total{camera}``,
      ``..._detect_skipped_frames_total{camera}`` (motion gating: the detector did not run)
    * ``camera_bridge_detect_events_total{camera,label,type}``
    """

    def __init__(self, view: BridgeView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        all_stats = list(self._view.detection_stats().items())
        prefix = "camera_bridge_detect_"
        hist = HistogramMetricFamily(prefix + "inference_seconds", "Detector run time.", labels=["camera"])
        runs = CounterMetricFamily(prefix + "runs", "Detector runs.", labels=["camera"])
        frames = CounterMetricFamily(prefix + "frames", "Detection frames processed.", labels=["camera"])
        skipped = CounterMetricFamily(
            prefix + "skipped_frames",
            "Detection frames without motion or tracked objects: no detector run.",
            labels=["camera"],
        )
        events = CounterMetricFamily(prefix + "events", "Detection events.", labels=["camera", "label", "type"])
        for cam_id, stats in all_stats:
            counts = list(stats.buckets)
            cumulative, total = [], 0
            for bound, count in zip([*(str(b) for b in stats.bounds), "+Inf"], counts):
                total += count
                cumulative.append((bound, total))
            hist.add_metric([cam_id], cumulative, stats.inference_sum)
            runs.add_metric([cam_id], stats.runs)
            frames.add_metric([cam_id], stats.frames)
            skipped.add_metric([cam_id], stats.skipped)
            for (label, kind), count in sorted(stats.events.items()):
                events.add_metric([cam_id, label, kind], count)
        yield from (hist, runs, frames, skipped, events)


__all__ = ["DetectCollector", "detect", "setup"]
