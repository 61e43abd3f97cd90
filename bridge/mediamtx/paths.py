"""What the bridge wants MediaMTX to serve: one path per camera, named after the camera id.

RTSP cameras are path ``source``s (MediaMTX holds the one connection, ``sourceOnDemand`` off so
the stream is always there for the bridge and viewers); every other camera (USB, HTTP, file,
lavfi) is published into its path by an ffmpeg ``runOnInit`` command that MediaMTX restarts
(``runOnInitRestart``) when it exits. Keys are MediaMTX path options (``mediamtx.yml``
``pathDefaults``); :func:`same_value` compares values the way MediaMTX normalises them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from ..config import CameraConfig, MediamtxConfig
from ..redact import mask_url

#: MediaMTX path options whose values are Go durations (``1h`` comes back as ``1h0m0s``)
DURATION_KEYS = frozenset(
    {
        "recordSegmentDuration",
        "recordDeleteAfter",
        "recordPartDuration",
        "sourceOnDemandStartTimeout",
        "sourceOnDemandCloseAfter",
    }
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s|d)")
MAX_DURATION_TEXT = 64  #: longest duration text parsed (``1h0m0s`` is 6)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: H.264 output of the ffmpeg publisher: low latency, 2 s GOP at the camera's rate
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p")
#: where ffmpeg publishes: MediaMTX sets RTSP_PORT and MTX_PATH for runOnInit commands
PUBLISH_TARGET = "rtsp://localhost:$RTSP_PORT/$MTX_PATH"


def duration_seconds(text: str) -> float | None:
    """A Go/MediaMTX duration (``1h0m0s``, ``1d``, ``500ms``) in seconds; None if not one
    (also for text longer than :data:`MAX_DURATION_TEXT` characters: the pattern is searched at
    every position, so its input is bounded first)."""
    if len(text) > MAX_DURATION_TEXT:
        return None
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def same_value(key: str, actual: Any, wanted: Any) -> bool:
    """Whether MediaMTX's ``actual`` value of option ``key`` is what the bridge ``wanted``."""
    if key in DURATION_KEYS and isinstance(actual, str) and isinstance(wanted, str):
        return duration_seconds(actual) == duration_seconds(wanted)
    return actual == wanted


def differences(actual: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The options of ``wanted`` whose value in ``actual`` differs (what a patch must send)."""
    return {k: v for k, v in wanted.items() if k not in actual or not same_value(k, actual[k], v)}


def publisher_command(cam: CameraConfig, formats: Iterable[str] | None = None) -> str:
    """The ffmpeg command line that publishes a non-RTSP camera into its MediaMTX path.

    USB: V4L2 input, MJPEG when ``input_format`` is ``auto`` and the device offers it (or its
    formats are unknown), H.264 encoded for low latency. Files loop at real time; lavfi graphs
    and HTTP streams are read as they come. Credentials in URLs are part of the command (MediaMTX
    needs them); the generated file is written with mode 0600.
    """
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error"]
    fps = cam.framerate or 25
    if cam.kind == "usb":
        args += ["-f", "v4l2"]
        known = {f.lower() for f in formats} if formats is not None else None
        if cam.input_format != "auto":
            args += ["-input_format", cam.input_format]
        elif known is None or "mjpeg" in known or "mjpg" in known:
            args += ["-input_format", "mjpeg"]
        if cam.video_size:
            args += ["-video_size", cam.video_size]
        if cam.framerate:
            args += ["-framerate", f"{cam.framerate:g}"]
        args += ["-i", cam.source]
    elif cam.kind == "lavfi":
        args += ["-re", "-f", "lavfi", "-i", cam.source[len("lavfi:") :]]
    elif cam.kind == "file":
        args += ["-re", "-stream_loop", "-1", "-i", cam.source]
    else:
        args += ["-i", cam.source]
    args += [*X264, "-g", str(round(2 * fps)), "-an", "-f", "rtsp", "-rtsp_transport", "tcp"]
    return shlex.join(args) + " " + PUBLISH_TARGET


def path_conf(
    cam: CameraConfig, cfg: MediamtxConfig, record: bool, formats: Iterable[str] | None = None
) -> dict[str, Any]:
    """The MediaMTX path configuration (``PathConf``) for camera ``cam``, recording or not:
    it restreams (and records) the camera's ``restream`` stream."""
    cam = cam.stream_config(cam.stream_of("restream"))
    rec = cfg.record
    conf: dict[str, Any]
    if cam.kind == "rtsp":
        conf = {"source": cam.source, "sourceOnDemand": False, "rtspTransport": cam.transport}
    else:
        conf = {"source": "publisher", "runOnInit": publisher_command(cam, formats), "runOnInitRestart": True}
    conf.update(
        {
            "record": record,
            "recordPath": rec.path,
            "recordFormat": rec.format,
            "recordSegmentDuration": rec.segment_duration,
            "recordDeleteAfter": rec.delete_after,
        }
    )
    return conf


def stream_urls(cfg: MediamtxConfig, path: str) -> dict[str, str]:
    """Viewer URLs of ``path``: ``rtsp``, ``hls`` (playlist) and ``webrtc`` (MediaMTX's page;
    its WHEP endpoint is that URL plus ``/whep``). Credentials in the bases are masked: these
    URLs go to MQTT and the API."""
    return {
        "rtsp": mask_url(f"{cfg.rtsp_url}/{path}"),
        "hls": mask_url(f"{cfg.hls_url}/{path}/index.m3u8"),
        "webrtc": mask_url(f"{cfg.webrtc_url}/{path}"),
    }
