"""Camera state machine states and the status record published for each camera."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class CameraState(StrEnum):
    """Where a camera's supervisor is.

    ``connecting`` opening the stream; ``streaming`` packets are arriving; ``backoff`` waiting
    (jittered, exponential) before the next attempt after a failure; ``error`` the last failure
    looks permanent (no video stream, unsupported source) and attempts slow down to the backoff
    cap; ``stopped`` the bridge is shutting the camera down; ``offline`` a USB camera that was
    unplugged (its configuration is kept; plugging it back in resumes it); ``disabled`` switched
    off by the user (``PUT /api/cameras/{id}/enabled``, MQTT ``{base}/{camera}/enabled/set``): no
    connection, no decoding, no snapshots; its configuration and last snapshot are kept.
    """

    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    ERROR = "error"
    STOPPED = "stopped"
    OFFLINE = "offline"
    DISABLED = "disabled"


@dataclass
class CameraStatus:
    """Runtime status of one camera. Times are seconds since the epoch, sizes pixels,
    ``fps`` video packets per second measured over the last few seconds. Counters since start:
    ``frames`` video packets received, ``keyframes`` of them keyframes, ``decoded`` frames the
    decoder produced (about ``keyframes`` while only snapshots are needed), ``decode_seconds``
    time spent in the decoder (metrics only, not in the payload); ``taken_at`` capture time of
    the frame of the latest snapshot (None before the first)."""

    state: CameraState = CameraState.CONNECTING
    last_frame_at: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    reconnects: int = 0
    error: str | None = None
    frames: int = 0
    keyframes: int = 0
    decoded: int = 0
    decode_seconds: float = 0.0
    taken_at: float | None = None
    #: each of the camera's streams (``Camera.stream_payload``); None: not filled in
    streams: list[dict[str, Any]] | None = None

    def as_payload(self) -> dict[str, Any]:
        """The MQTT/API form: ``last_frame_at`` and ``taken_at`` as ISO 8601 UTC, ``fps`` rounded to 0.1."""
        return {
            "state": str(self.state),
            "last_frame_at": iso_utc(self.last_frame_at),
            "fps": None if self.fps is None else round(self.fps, 1),
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "reconnects": self.reconnects,
            "error": self.error,
            "frames": self.frames,
            "keyframes": self.keyframes,
            "decoded": self.decoded,
            "taken_at": iso_utc(self.taken_at),
            "streams": self.streams or [],
        }


def iso_utc(timestamp: float | None) -> str | None:
    """Seconds since the epoch -> ``2026-11-21T06:30:00.123+00:00`` (None stays None)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
