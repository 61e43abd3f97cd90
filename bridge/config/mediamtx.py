"""The ``mediamtx:`` section: the MediaMTX server the bridge drives (stream URLs, recording)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from .options import (
    Section,
    Sections,
    boolean,
    matching,
    number,
    option,
    optional,
    options_of,
    section_schema,
    string,
    text,
)

_HTTP = r"^https?://[^\s/]+"
_HTTP_EXPECTED = "expected http(s)://host:port"


@dataclass(frozen=True)
class RecordConfig:
    """``mediamtx.record``: recording defaults (MediaMTX duration strings such as ``1h``)."""

    enabled: bool = option(boolean, False, "Record cameras unless switched per camera.")
    path: str = option(
        vol.All(text(), vol.Match(r".*%path", msg="must contain %path")),
        "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f",
        "MediaMTX `recordPath` (must contain `%path`).",
    )
    format: str = option(vol.In(("fmp4", "mpegts")), "fmp4", "MediaMTX `recordFormat`.")
    segment_duration: str = option(
        matching(r"^\d+(ms|s|m|h|d)$", "expected a duration such as 30m, 1h"), "1h", "MediaMTX `recordSegmentDuration`."
    )
    delete_after: str = option(
        matching(r"^(0s|\d+(ms|s|m|h|d))$", "expected a duration such as 1d, 0s = never"),
        "1d",
        "MediaMTX `recordDeleteAfter`; `0s` keeps recordings forever.",
    )


@dataclass(frozen=True)
class MediamtxConfig:
    """``mediamtx:`` section (URLs without a trailing ``/``; durations in seconds)."""

    enabled: bool = option(boolean, False, "Drive a MediaMTX server (stream URLs, recording).")
    api_url: str = option(matching(_HTTP, _HTTP_EXPECTED), "http://127.0.0.1:9997", "MediaMTX Control API base URL.")
    username: str | None = option(string, None, "User for the MediaMTX API, if it needs one.")
    password: str | None = option(string, None, "Password for the MediaMTX API.", secret=True)
    rtsp_url: str = option(
        matching(r"^rtsps?://[^\s/]+", "expected rtsp://host:port"),
        "rtsp://127.0.0.1:8554",
        "Base of the RTSP stream URLs (`{rtsp_url}/{path}`).",
    )
    hls_url: str = option(matching(_HTTP, _HTTP_EXPECTED), "http://127.0.0.1:8888", "Base of the HLS stream URLs.")
    webrtc_url: str = option(
        matching(_HTTP, _HTTP_EXPECTED), "http://127.0.0.1:8889", "Base of the WebRTC (WHEP page) URLs."
    )
    config_out: str | None = option(
        optional(text()), None, "Where `camera-bridge mediamtx-config` writes mediamtx.yml."
    )
    read_via_mediamtx: bool = option(
        boolean, False, "Read RTSP cameras through MediaMTX's restream while it is up (USB cameras always are)."
    )
    health_interval: float = option(number(0.1, 3600), 5.0, "Seconds between health checks.")
    reconcile_interval: float = option(number(1, 86400), 60.0, "Seconds between periodic reconciliations.")
    request_timeout: float = option(number(0.1, 60), 5.0, "Seconds one API request may take.")
    record: RecordConfig = field(default_factory=RecordConfig)


MEDIAMTX_OPTIONS = options_of(MediamtxConfig)
RECORD_OPTIONS = options_of(RecordConfig)
MEDIAMTX_SCHEMA = section_schema(
    MEDIAMTX_OPTIONS, {vol.Optional("record", default=dict): section_schema(RECORD_OPTIONS)}
)
SECTIONS: Sections = {"": Section(MEDIAMTX_OPTIONS, ("record",)), "record": Section(RECORD_OPTIONS)}
#: the URLs, stored without a trailing ``/``
URLS = ("api_url", "rtsp_url", "hls_url", "webrtc_url")


def build(valid: dict[str, Any]) -> MediamtxConfig:
    """A :class:`MediamtxConfig` from the validated section (URLs without a trailing ``/``)."""
    media = dict(valid)
    media["record"] = RecordConfig(**media["record"])
    for key in URLS:
        media[key] = media[key].rstrip("/")
    return MediamtxConfig(**media)
