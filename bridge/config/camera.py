"""The ``cameras:`` section: each camera's source, timeouts, USB capture format, snapshot
options, and its own ``detect`` and ``timelapse`` overrides."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol

from ..errors import ConfigError
from ..redact import mask_url
from . import detect as _detect
from . import timelapse as _timelapse
from .detect import DetectConfig
from .messages import explain_all
from .mqtt import MqttConfig
from .options import (
    SLUG,
    Section,
    Sections,
    boolean,
    default_of,
    integer,
    matching,
    nest,
    number,
    option,
    optional,
    options_of,
    positive,
    section_schema,
    text,
    validate_each,
)
from .secrets import register_password_of
from .timelapse import SettingValue

#: a camera id: a slug
CAMERA_ID = SLUG
URL_EXPECTED = "expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN"
_DEVICE = re.compile(r"^/dev/(video\d+|v4l/by-(id|path)/[^/\s]+)$")
#: camera ids that would collide with the bridge's own topics and HA device
RESERVED_IDS = frozenset({"bridge", "timelapse"})


def source_kind(source: str) -> str:
    """Classify a camera source string; raise ``vol.Invalid`` when it is none of the kinds."""
    lower = source.lower()
    if lower.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lower.startswith(("http://", "https://")):
        return "http"
    if lower.startswith("lavfi:") and len(source) > 6:
        return "lavfi"
    if _DEVICE.match(source):
        return "usb"
    if "://" not in source and source and not lower.startswith("lavfi:"):
        return "file"
    raise vol.Invalid(URL_EXPECTED)


def _camera_url(value: Any) -> str:
    value = vol.Coerce(str)(value).strip()
    kind = source_kind(value)
    try:
        is_file = Path(value).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte: not a file
        is_file = False
    if kind == "file" and not is_file:
        raise vol.Invalid(f"file {value!r} does not exist ({URL_EXPECTED})")
    return value


def _device(value: Any) -> str:
    value = vol.Coerce(str)(value)
    if not _DEVICE.match(value):
        raise vol.Invalid("expected a V4L2 device node: /dev/videoN or /dev/v4l/by-id/... (by-path)")
    return value


#: at most this many polygons per camera, and points per polygon (bounded work per picture)
MAX_MASKS, MAX_POINTS = 16, 64


def _polygons(value: Any) -> tuple[tuple[tuple[float, float], ...], ...]:
    """``privacy_masks``: a list of polygons, each a list of 3 to 64 ``[x, y]`` points with
    coordinates from 0 to 1 (fractions of the picture's width and height)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or len(value) > MAX_MASKS:
        raise vol.Invalid(f"expected a list of at most {MAX_MASKS} polygons, got {_shown(value)}")
    out = []
    for i, polygon in enumerate(value):
        if not isinstance(polygon, (list, tuple)) or not 3 <= len(polygon) <= MAX_POINTS:
            raise vol.Invalid(f"expected a polygon of 3 to {MAX_POINTS} [x, y] points, got {_shown(polygon)}", path=[i])
        points = []
        for j, point in enumerate(polygon):
            ok = (
                isinstance(point, (list, tuple))
                and len(point) == 2
                and all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in point)
            )
            if not ok:
                raise vol.Invalid(f"expected a point [x, y] with x and y from 0 to 1, got {_shown(point)}", path=[i, j])
            points.append((float(point[0]), float(point[1])))
        out.append(tuple(points))
    return tuple(out)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: what a camera's streams are used for (``cameras.<id>.streams[].roles``)
ROLES = ("detect", "snapshot", "timelapse", "restream", "record")
MAX_STREAMS = 4  #: streams per camera (one connection each)


@dataclass(frozen=True)
class StreamConfig:
    """One of a camera's streams: what to open (``url``, as a camera's ``url``) and what it is
    used for (``roles``, a subset of :data:`ROLES`, in that order)."""

    url: str
    roles: tuple[str, ...]


def _streams(value: Any) -> tuple[StreamConfig, ...]:
    """``streams``: a list of 1 to :data:`MAX_STREAMS` ``{url, roles}``; each role of
    :data:`ROLES` on at most one stream (roles named on no stream belong to the first), every
    stream with at least one role. ``record`` must be on the ``restream`` stream (MediaMTX
    records the path it restreams). Raises ``vol.Invalid`` with the path of the bad entry."""
    if value is None or value == ():  # not set (the default)
        return ()
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_STREAMS:
        raise vol.Invalid(f"expected a list of 1 to {MAX_STREAMS} streams ({{url, roles}})")
    owner: dict[str, int] = {}
    named: list[tuple[str, list[str]]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise vol.Invalid("expected a mapping {url, roles}", path=[i])
        unknown = sorted(str(k) for k in entry if k not in ("url", "roles"))
        if unknown:
            raise vol.Invalid(f"unknown key {unknown[0]!r} (a stream has url and roles)", path=[i, unknown[0]])
        if entry.get("url") is None:
            raise vol.Invalid("required: the stream's url", path=[i, "url"])
        try:
            url = _camera_url(entry["url"])
        except vol.Invalid as err:
            raise vol.Invalid(err.error_message, path=[i, "url"]) from None
        roles = entry.get("roles")
        if not isinstance(roles, (list, tuple)) or not roles:
            raise vol.Invalid(f"expected a list of roles from {', '.join(ROLES)}", path=[i, "roles"])
        for role in roles:
            if role not in ROLES:
                raise vol.Invalid(
                    f"{str(role)[:40]!r} is not a role; expected roles from {', '.join(ROLES)}", path=[i, "roles"]
                )
            if role in owner:
                raise vol.Invalid(
                    f"role {role} is already on stream {owner[role]} (each role on exactly one stream)",
                    path=[i, "roles"],
                )
            owner[role] = i
        named.append((url, list(roles)))
    if owner.get("record", 0) != owner.get("restream", 0):
        raise vol.Invalid(
            "record must be on the restream stream (MediaMTX records the path it restreams)",
            path=[owner["record"], "roles"],
        )
    named[0][1].extend(r for r in ROLES if r not in owner)
    return tuple(StreamConfig(url, tuple(r for r in ROLES if r in roles)) for url, roles in named)


@dataclass(frozen=True)
class SnapshotConfig:
    """``cameras.<id>.snapshot:`` section (seconds, pixels, JPEG quality 1-100)."""

    interval: float = option(number(0), 2.0, "Seconds between published snapshots; 0 = every keyframe.")
    max_width: int | None = option(
        optional(integer(16, 7680)), None, "Downscale snapshots wider than this many pixels (aspect kept)."
    )
    quality: int = option(integer(1, 100), 80, "JPEG quality, 1-100.")
    retain: bool = option(boolean, True, "Publish the snapshot retained.")


@dataclass(frozen=True)
class EventSnapshotConfig:
    """``cameras.<id>.event_snapshot:`` section: the ring of recent keyframes event snapshots
    are decoded from (count of keyframes; JPEG quality 1-100) and the cap of the camera's ring
    memory (MiB; see :meth:`ring_budget`)."""

    keyframes: int = option(
        integer(1, 120),
        10,
        "Recent keyframes of the snapshot stream kept compressed for event snapshots (10: about 10 s at a 1 s GOP).",
    )
    quality: int = option(integer(1, 100), 85, "JPEG quality of event snapshots, 1-100.")
    max_memory_mb: int = option(
        integer(16, 4096),
        256,
        "MiB of compressed packets the camera holds in memory for event snapshots and clips, at most: "
        "an eighth for the keyframe ring, an eighth for the clip ring, the rest for the clip being recorded.",
    )

    def ring_budget(self) -> tuple[int, int, int]:
        """Bytes the camera's rings may hold at most: ``(keyframe ring, clip ring, clip being
        recorded)``, together ``max_memory_mb`` MiB."""
        total = self.max_memory_mb * 1024 * 1024
        eighth = total // 8
        return eighth, eighth, total - 2 * eighth


@dataclass(frozen=True)
class CameraConfig:
    """One camera. Exactly one of ``url``, ``device`` and ``streams`` is set (``url`` and
    ``device`` are one stream with every role). Durations in seconds."""

    id: str
    name: str | None = option(
        optional(text()), None, "Display name; default: the id with underscores as spaces, capitalised."
    )
    url: str | None = option(
        optional(_camera_url),
        None,
        "Stream: rtsp://, rtsps://, http(s)://, a file path, `lavfi:GRAPH` or /dev/videoN.",
        secret=True,
    )
    device: str | None = option(
        optional(_device), None, "USB (V4L2) device node, e.g. /dev/video0 or a stable /dev/v4l/by-id/... link."
    )
    streams: tuple[StreamConfig, ...] = option(
        _streams,
        (),
        "Several streams of one camera (instead of `url`): a list of `{url, roles}`, "
        "roles from `detect`, `snapshot`, `timelapse`, `restream`, `record`, each on one stream "
        "(roles named on none go to the first); one connection per stream.",
        secret=True,
    )
    transport: str = option(vol.In(("tcp", "udp")), "tcp", "RTSP transport.")
    open_timeout: float = option(positive(float), 10.0, "Seconds allowed to open the stream.")
    stall_timeout: float = option(positive(float), 10.0, "Seconds without a packet before the camera is reconnected.")
    input_format: str = option(text(), "auto", "USB input format; `auto` takes MJPEG when the camera offers it.")
    video_size: str | None = option(
        optional(matching(r"^\d+x\d+$", "expected WIDTHxHEIGHT, e.g. 1280x720")), None, "USB capture size, WxH."
    )
    framerate: float | None = option(optional(positive(float)), None, "USB capture rate, frames/s.")
    privacy_masks: tuple[tuple[tuple[float, float], ...], ...] = option(
        _polygons,
        (),
        "Polygons filled black in every picture and before detection: "
        "lists of `[x, y]` points, 0-1 of the width and height.",
    )
    snapshot: SnapshotConfig = field(default_factory=SnapshotConfig)
    event_snapshot: EventSnapshotConfig = field(default_factory=EventSnapshotConfig)
    #: ``timelapse:`` setting overrides for this camera's timelapses
    timelapse: dict[str, SettingValue] = field(default_factory=dict)
    detect: DetectConfig = field(default_factory=DetectConfig)

    @property
    def display_name(self) -> str:
        """The configured name, or the id made readable (``front_door`` -> ``Front door``)."""
        return self.name or self.id.replace("_", " ").capitalize()

    @property
    def source(self) -> str:
        """What to open: the URL or the device path (with ``streams``: the first stream's)."""
        return self.url or self.device or (self.streams[0].url if self.streams else "")

    @property
    def stream_count(self) -> int:
        """How many connections the camera has (1 without ``streams``)."""
        return max(1, len(self.streams))

    def stream_of(self, role: str) -> int:
        """The index of the stream that has ``role`` (0 for a one-stream camera)."""
        for i, stream in enumerate(self.streams):
            if role in stream.roles:
                return i
        return 0

    def roles_of(self, index: int) -> tuple[str, ...]:
        """The roles of stream ``index`` (every role for a one-stream camera)."""
        return self.streams[index].roles if self.streams else ROLES

    def stream_config(self, index: int) -> CameraConfig:
        """This camera as one connection opening stream ``index`` (``url`` set, no
        ``streams``): what a stream's connection reads."""
        if not self.streams:
            return self
        return dataclasses.replace(self, url=self.streams[index].url, device=None, streams=())

    @property
    def kind(self) -> str:
        """``rtsp``, ``http``, ``lavfi``, ``usb`` or ``file``."""
        return source_kind(self.source)

    @property
    def safe_source(self) -> str:
        """``source`` with URL credentials masked, for logs and status."""
        return mask_url(self.source)


CAMERA_OPTIONS = options_of(CameraConfig)
SNAPSHOT_OPTIONS = options_of(SnapshotConfig)
EVENT_SNAPSHOT_OPTIONS = options_of(EventSnapshotConfig)
#: one camera (``cameras.<id>``)
CAMERA_SCHEMA = section_schema(
    CAMERA_OPTIONS,
    {
        vol.Optional("snapshot", default=dict): section_schema(SNAPSHOT_OPTIONS),
        vol.Optional("event_snapshot", default=dict): section_schema(EVENT_SNAPSHOT_OPTIONS),
        vol.Optional("timelapse", default=dict): _timelapse.validate_overrides,
        vol.Optional("detect"): _detect.CAMERA_DETECT_SCHEMA,
    },
)
#: the sections of one camera, relative to ``cameras.<id>``
SECTIONS: Sections = {
    "": Section(CAMERA_OPTIONS, ("snapshot", "event_snapshot", "timelapse", "detect")),
    "snapshot": Section(SNAPSHOT_OPTIONS),
    "event_snapshot": Section(EVENT_SNAPSHOT_OPTIONS),
    **nest("detect", _detect.SECTIONS),
    **nest("timelapse", _timelapse.CAMERA_SECTIONS),
}


def _validate_camera(cam_id: str, cam: Any) -> dict[str, Any]:
    """One camera's body (every problem at once: the source rule and the schema's)."""
    cam = cam if cam is not None else {}
    problems = []
    if isinstance(cam, dict) and sum(cam.get(k) is not None for k in ("url", "device", "streams")) != 1:
        problems.append(vol.Invalid("set exactly one of url, device and streams"))
    try:
        valid: dict[str, Any] = CAMERA_SCHEMA(cam)
    except vol.MultipleInvalid as err:
        raise vol.MultipleInvalid(problems + err.errors) from None
    except vol.Invalid as err:
        raise vol.MultipleInvalid([*problems, err]) from None
    if problems:
        raise vol.MultipleInvalid(problems)
    return valid


def validate_cameras(value: Any) -> dict[str, Any]:
    """Validate every camera (id and body), collecting all errors with their paths (voluptuous
    validator of the ``cameras:`` mapping)."""

    def reserved(cam_id: str) -> str | None:
        return f"camera id {cam_id!r} is reserved for the bridge" if cam_id in RESERVED_IDS else None

    return validate_each(value, "camera", _validate_camera, reserved)


def build(cam_id: str, cam: dict[str, Any], detect: dict[str, Any] | None = None) -> CameraConfig:
    """A :class:`CameraConfig` from the validated ``cam``; its ``detect`` options laid over the
    validated global ``detect`` section (the built-in defaults when None). Raises
    :class:`ConfigError` (``detector: onnx`` without a model)."""
    cam = dict(cam)
    snapshot = SnapshotConfig(**cam.pop("snapshot"))
    cam["streams"] = tuple(cam.get("streams") or ())
    cam["event_snapshot"] = EventSnapshotConfig(**cam.pop("event_snapshot", {}))
    cam["detect"] = _detect.build(cam.pop("detect", None) or {}, detect)
    if cam["detect"].kind == "onnx" and not cam["detect"].model:
        raise ConfigError([f"cameras.{cam_id}.detect.model: detector onnx needs a model file"])
    clips = cam["detect"].clips
    if cam["detect"].enabled and clips.enabled and cam.get("privacy_masks") and not clips.allow_unmasked:
        raise ConfigError(
            [
                f"cameras.{cam_id}.detect.clips: clips are stream copies and cannot be masked; "
                "this camera has privacy_masks: remove clips, or set clips.allow_unmasked: true"
            ]
        )
    return CameraConfig(id=cam_id, snapshot=snapshot, **cam)


def camera_from_data(
    cam_id: str, data: Any, base_topic: str = default_of(MqttConfig, "base_topic"), detect: DetectConfig | None = None
) -> CameraConfig:
    """Validate one camera given as plain data (the API's body), with the same schema and the
    same messages as YAML (paths ``cameras.<id>.<key>``). Its ``detect`` options are laid over
    ``detect`` (the global section, ``Config.detect``: as for a YAML camera), else over the
    built-in defaults. Raises :class:`ConfigError`."""
    try:
        valid = validate_cameras({cam_id: data})
    except vol.MultipleInvalid as err:
        raise ConfigError(explain_all(err, {cam_id: data}, nest("cameras.<id>", SECTIONS), ["cameras"])) from err
    if cam_id == base_topic.replace("/", "_"):
        raise ConfigError([f"cameras.{cam_id}: camera id equals the bridge's node id (mqtt.base_topic)"])
    camera = build(cam_id, valid[cam_id], _detect.section(detect) if detect is not None else None)
    register_password_of(camera.source)
    for stream in camera.streams:
        register_password_of(stream.url)
    return camera


def camera_data(camera: CameraConfig) -> dict[str, Any]:
    """A camera as plain data (what the registry stores), without its id; secrets included."""
    data = dataclasses.asdict(camera)
    del data["id"]
    data["detect"] = _detect.as_data(camera.detect)
    data["streams"] = [{"url": s.url, "roles": list(s.roles)} for s in camera.streams] or None
    return data
