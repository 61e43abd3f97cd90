"""Try a camera source before saving it: open it as the bridge would and report what it carries.

``camera-bridge probe URL`` prints the result; a failure is the same :class:`CaptureError` (same
words) the camera's status would show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .capture import Frame, StreamInfo, StreamReader
from .config import CameraConfig, SnapshotConfig
from .errors import CaptureError
from .snapshot import encode

#: seconds of stream measured at least (fps), and at most while waiting for a second keyframe
MEASURE_MIN = 1.0
MEASURE_MAX = 12.0


@dataclass
class ProbeResult:
    """What a probe saw: the stream's ``info``; ``fps`` measured from packet arrivals (frames/s);
    ``gop`` frames from one keyframe to the next (None when only one keyframe came);
    ``jpeg`` one keyframe encoded (None if none decoded); ``seconds`` measured."""

    info: StreamInfo | None = None
    fps: float | None = None
    gop: int | None = None
    jpeg: bytes | None = None
    seconds: float = 0.0
    keyframes: list[int] = field(default_factory=list)  # packet numbers of keyframes


class _ProbeSink:
    """Collects what the reader delivers; sets ``stop`` once there is enough."""

    def __init__(self, stop: threading.Event, measure_max: float) -> None:
        self.result = ProbeResult()
        self._stop = stop
        self._max = measure_max
        self._packets = 0
        self._first: float | None = None
        self._last = 0.0
        self._snapshot_error: str | None = None

    def opened(self, info: StreamInfo) -> None:
        self.result.info = info

    def compressed(self, item: object) -> None:
        """Packets are not kept: a probe has no rings."""

    def packet(self, keyframe: bool) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = now
        self._packets += 1
        self._last = now
        if keyframe:
            self.result.keyframes.append(self._packets)
        elapsed = now - self._first
        enough = len(self.result.keyframes) >= 2 and elapsed >= MEASURE_MIN
        if (enough and self.result.jpeg is not None) or elapsed >= self._max:
            self._stop.set()

    def decoded(self, frames: int = 1, seconds: float = 0.0) -> None:
        pass

    def wanted(self, keyframe: bool, now: float) -> bool:
        return keyframe and self.result.jpeg is None

    def all_keyframes_only(self) -> bool:
        return True

    def frame(self, frame: Frame) -> None:
        try:
            self.result.jpeg = encode(frame, SnapshotConfig(quality=85)).jpeg
        except ValueError as err:
            self._snapshot_error = str(err)

    def finish(self) -> ProbeResult:
        result = self.result
        if self._first is not None:
            result.seconds = self._last - self._first
            if self._packets > 1 and result.seconds > 0:
                result.fps = (self._packets - 1) / result.seconds
        keys = result.keyframes
        if len(keys) >= 2:
            result.gop = keys[-1] - keys[-2]
        return result


def probe_source(cam: CameraConfig, measure_max: float = MEASURE_MAX) -> ProbeResult:
    """Open ``cam``'s source, read until two keyframes and a second of stream came (at most
    ``measure_max`` seconds), and return what was seen. Blocking. Raises :class:`CaptureError`
    (its message in words: host not found, connection refused, timeout, 401 wrong credentials,
    404 wrong path, unsupported codec; credentials masked) when the source does not open, or
    fails before delivering a packet."""
    stop = threading.Event()
    sink = _ProbeSink(stop, measure_max)
    try:
        StreamReader(cam, stop).run(sink)
    except CaptureError:
        if sink.result.info is None or not sink.result.keyframes:
            raise
    return sink.finish()
