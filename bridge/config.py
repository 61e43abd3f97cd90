"""Configuration: YAML (with ``!env`` tags and ``CAMERA_BRIDGE_*`` overrides) validated with
voluptuous into frozen dataclasses that the rest of the bridge trusts.

Every option is declared once, in the ``*_OPTIONS`` tables below (key, validator, default,
description); the schema, the defaults and the reference in ``docs/configuration.md`` (checked by
a test) all come from there.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from .errors import ConfigError
from .redact import MASK, REDACTOR, mask_url

ENV_PREFIX = "CAMERA_BRIDGE_"
CAMERA_ID = re.compile(r"^[a-z0-9_]+$")
URL_EXPECTED = "expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN"
_DEVICE = re.compile(r"^/dev/(video\d+|v4l/by-(id|path)/[^/\s]+)$")
_TOPIC_LEVEL = re.compile(r"^[^#+\s]+$")


@dataclass(frozen=True)
class Option:
    """One configuration option: its key, voluptuous validator, default and documentation."""

    key: str
    validator: Any
    default: Any
    description: str
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is vol.UNDEFINED


def _topic(value: Any) -> str:
    value = vol.Coerce(str)(value).strip("/")
    if not value or not all(_TOPIC_LEVEL.match(part) for part in value.split("/")):
        raise vol.Invalid("expected an MQTT topic without wildcards or spaces")
    return value


def _optional(validator: Any) -> Any:
    """``None`` or ``validator``, keeping the validator's own error message."""

    def check(value: Any) -> Any:
        return None if value is None else validator(value)

    return check


def _positive(kind: type) -> Any:
    """A number of ``kind`` (int, float) greater than 0."""
    return vol.All(vol.Coerce(kind), vol.Range(min=0, min_included=False))


#: the validator helpers for the Option tables of other modules (bridge/detect/config.py, ...)
optional, positive = _optional, _positive


MQTT_OPTIONS = (
    Option("host", vol.All(vol.Coerce(str), vol.Length(min=1)), vol.UNDEFINED, "Broker host name or address."),
    Option("port", vol.All(vol.Coerce(int), vol.Range(1, 65535)), 1883, "Broker TCP port."),
    Option("username", _optional(vol.Coerce(str)), None, "User name, if the broker needs one."),
    Option("password", _optional(vol.Coerce(str)), None, "Password (use `!env NAME`).", secret=True),
    Option("client_id", _optional(vol.Coerce(str)), None, "MQTT client id; default `camera-bridge-{base_topic}`."),
    Option("keepalive", vol.All(vol.Coerce(int), vol.Range(5, 3600)), 30, "Keepalive, seconds."),
    Option("base_topic", _topic, "camera_bridge", "Prefix of every bridge topic (`{base}`)."),
    Option("discovery", vol.Boolean(), True, "Publish Home Assistant MQTT discovery."),
    Option("discovery_prefix", _topic, "homeassistant", "Home Assistant discovery prefix."),
    Option("ha_status_topic", _topic, "homeassistant/status",
           "Home Assistant's birth topic; `online` there re-publishes discovery and state."),
    Option("status_interval", vol.All(vol.Coerce(float), vol.Range(1, 3600)), 30.0,
           "Seconds between periodic re-publishes of camera status and bridge state."),
)

SNAPSHOT_OPTIONS = (
    Option("interval", vol.All(vol.Coerce(float), vol.Range(min=0)), 2.0,
           "Seconds between published snapshots; 0 = every keyframe."),
    Option("max_width", _optional(vol.All(vol.Coerce(int), vol.Range(16, 7680))), None,
           "Downscale snapshots wider than this many pixels (aspect kept)."),
    Option("quality", vol.All(vol.Coerce(int), vol.Range(1, 100)), 80, "JPEG quality, 1-100."),
    Option("retain", vol.Boolean(), True, "Publish the snapshot retained."),
)

CAMERA_OPTIONS = (
    Option("name", _optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None,
           "Display name; default: the id with underscores as spaces, capitalised."),
    Option("url", _optional(vol.Coerce(str)), None,
           "Stream: rtsp://, rtsps://, http(s)://, a file path, `lavfi:GRAPH` or /dev/videoN.",
           secret=True),
    Option("device", _optional(vol.Coerce(str)), None,
           "USB (V4L2) device node, e.g. /dev/video0 or a stable /dev/v4l/by-id/... link."),
    Option("transport", vol.In(("tcp", "udp")), "tcp", "RTSP transport."),
    Option("open_timeout", _positive(float), 10.0, "Seconds allowed to open the stream."),
    Option("stall_timeout", _positive(float), 10.0,
           "Seconds without a packet before the camera is reconnected."),
    Option("input_format", vol.All(vol.Coerce(str), vol.Length(min=1)), "auto",
           "USB input format; `auto` takes MJPEG when the camera offers it."),
    Option("video_size", _optional(vol.All(vol.Coerce(str), vol.Match(r"^\d+x\d+$", msg="expected WIDTHxHEIGHT, e.g. 1280x720"))), None, "USB capture size, WxH."),
    Option("framerate", _optional(_positive(float)), None, "USB capture rate, frames/s."),
)

TOP_OPTIONS = (
    Option("log_level", vol.All(vol.Lower, vol.In(("debug", "info", "warning", "error"))), "info",
           "Log level."),
    Option("log_format", vol.All(vol.Lower, vol.In(("text", "json"))), "text",
           "Log line format: `text`, or `json` (one JSON object per line, with the request id)."),
    Option("data_dir", _optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None,
           "Directory for state (SQLite); default `$STATE_DIRECTORY` (systemd) or `./data`."),
)

ROLES = ("viewer", "operator", "admin")

API_OPTIONS = (
    Option("enabled", vol.Boolean(), True, "Serve the HTTP/WebSocket API."),
    Option("host", vol.All(vol.Coerce(str), vol.Length(min=1)), "127.0.0.1", "Listen address."),
    Option("port", vol.All(vol.Coerce(int), vol.Range(0, 65535)), 8765, "Listen TCP port (0 = any free port)."),
    Option("auth", vol.All(lambda v: "off" if v is False else v, vol.In(("auto", "required", "off"))), "auto",
           "`auto`: required unless listening on loopback; `off` is refused on other addresses."),
    Option("jwt_secret", _optional(vol.All(vol.Coerce(str), vol.Length(min=32))), None,
           "HS256 secret for JWT bearer tokens (use `!env NAME`); no JWTs without it.", secret=True),
    Option("max_websockets", vol.All(vol.Coerce(int), vol.Range(1, 10000)), 64,
           "Most WebSocket (JSON-RPC) connections open at once; more are refused with 503."),
    Option("max_streams", vol.All(vol.Coerce(int), vol.Range(1, 10000)), 64,
           "Most event (SSE) and MJPEG streams open at once; more are refused with 503."),
)

API_KEY_OPTIONS = (
    Option("name", vol.All(vol.Coerce(str), vol.Length(min=1)), vol.UNDEFINED, "Who the key is for."),
    Option("hash", vol.All(vol.Coerce(str), vol.Match(r"^sha256:[0-9a-f]{64}$",
           msg="expected sha256:<64 hex digits> (camera-bridge api-key prints one)")), vol.UNDEFINED,
           "SHA-256 of the key, as printed by `camera-bridge api-key`."),
    Option("role", vol.In(ROLES), "viewer", "viewer, operator or admin."),
)

RATE_LIMIT_OPTIONS = (
    Option("rate", _positive(float), 20.0, "Requests per second allowed per client (token bucket refill)."),
    Option("burst", vol.All(vol.Coerce(int), vol.Range(1, 10000)), 40, "Bucket size: requests allowed at once."),
    Option("auth_failures", vol.All(vol.Coerce(int), vol.Range(1, 100000)), 10,
           "Failed authentications allowed per client address per minute (then 429)."),
)


MEDIAMTX_OPTIONS = (
    Option("enabled", vol.Boolean(), False, "Drive a MediaMTX server (stream URLs, recording)."),
    Option("api_url", vol.All(vol.Coerce(str), vol.Match(r"^https?://[^\s/]+", msg="expected http(s)://host:port")),
           "http://127.0.0.1:9997", "MediaMTX Control API base URL."),
    Option("username", _optional(vol.Coerce(str)), None, "User for the MediaMTX API, if it needs one."),
    Option("password", _optional(vol.Coerce(str)), None, "Password for the MediaMTX API.", secret=True),
    Option("rtsp_url", vol.All(vol.Coerce(str), vol.Match(r"^rtsps?://[^\s/]+", msg="expected rtsp://host:port")),
           "rtsp://127.0.0.1:8554", "Base of the RTSP stream URLs (`{rtsp_url}/{path}`)."),
    Option("hls_url", vol.All(vol.Coerce(str), vol.Match(r"^https?://[^\s/]+", msg="expected http(s)://host:port")),
           "http://127.0.0.1:8888", "Base of the HLS stream URLs."),
    Option("webrtc_url", vol.All(vol.Coerce(str), vol.Match(r"^https?://[^\s/]+", msg="expected http(s)://host:port")),
           "http://127.0.0.1:8889", "Base of the WebRTC (WHEP page) URLs."),
    Option("config_out", _optional(vol.All(vol.Coerce(str), vol.Length(min=1))), None,
           "Where `camera-bridge mediamtx-config` writes mediamtx.yml."),
    Option("read_via_mediamtx", vol.Boolean(), False,
           "Read RTSP cameras through MediaMTX's restream while it is up (USB cameras always are)."),
    Option("health_interval", vol.All(vol.Coerce(float), vol.Range(0.1, 3600)), 5.0, "Seconds between health checks."),
    Option("reconcile_interval", vol.All(vol.Coerce(float), vol.Range(1, 86400)), 60.0,
           "Seconds between periodic reconciliations."),
    Option("request_timeout", vol.All(vol.Coerce(float), vol.Range(0.1, 60)), 5.0, "Seconds one API request may take."),
)

RECORD_OPTIONS = (
    Option("enabled", vol.Boolean(), False, "Record cameras unless switched per camera."),
    Option("path", vol.All(vol.Coerce(str), vol.Length(min=1), vol.Match(r".*%path", msg="must contain %path")),
           "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f",
           "MediaMTX `recordPath` (must contain `%path`)."),
    Option("format", vol.In(("fmp4", "mpegts")), "fmp4", "MediaMTX `recordFormat`."),
    Option("segment_duration", vol.All(vol.Coerce(str), vol.Match(r"^\d+(ms|s|m|h|d)$", msg="expected a duration such as 30m, 1h")),
           "1h", "MediaMTX `recordSegmentDuration`."),
    Option("delete_after", vol.All(vol.Coerce(str), vol.Match(r"^(0s|\d+(ms|s|m|h|d))$", msg="expected a duration such as 1d, 0s = never")),
           "1d", "MediaMTX `recordDeleteAfter`; `0s` keeps recordings forever."),
)

USB_OPTIONS = (
    Option("discovery", vol.All(lambda v: "off" if v is False else v, vol.In(("hybrid", "udev", "poll", "off"))), "hybrid",
           "USB hot-plug discovery: udev events, sysfs polling, both, or off."),
    Option("poll_interval", vol.All(vol.Coerce(float), vol.Range(0.1, 3600)), 5.0, "Seconds between sysfs polls."),
    Option("auto_add", vol.Boolean(), False, "Start a camera for every discovered capture device."),
    Option("sysfs_root", vol.All(vol.Coerce(str), vol.Length(min=1)), "/sys", "sysfs mount point (for polling)."),
)


@dataclass(frozen=True)
class MqttConfig:
    """``mqtt:`` section. Durations in seconds."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive: int = 30
    base_topic: str = "camera_bridge"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    ha_status_topic: str = "homeassistant/status"
    status_interval: float = 30.0


@dataclass(frozen=True)
class SnapshotConfig:
    """``cameras.<id>.snapshot:`` section (seconds, pixels, JPEG quality 1-100)."""

    interval: float = 2.0
    max_width: int | None = None
    quality: int = 80
    retain: bool = True


@dataclass(frozen=True)
class CameraConfig:
    """One camera. Exactly one of ``url`` and ``device`` is set. Durations in seconds."""

    id: str
    name: str | None = None
    url: str | None = None
    device: str | None = None
    transport: str = "tcp"
    open_timeout: float = 10.0
    stall_timeout: float = 10.0
    input_format: str = "auto"
    video_size: str | None = None
    framerate: float | None = None
    snapshot: SnapshotConfig = field(default_factory=SnapshotConfig)
    #: ``timelapse:`` setting overrides for this camera's timelapses (bridge/timelapse/config.py)
    timelapse: dict[str, Any] = field(default_factory=dict)
    detect: DetectConfig = field(default_factory=lambda: _detect.DetectConfig())

    @property
    def display_name(self) -> str:
        """The configured name, or the id made readable (``front_door`` -> ``Front door``)."""
        return self.name or self.id.replace("_", " ").capitalize()

    @property
    def source(self) -> str:
        """What to open: the URL or the device path."""
        return self.url or self.device or ""

    @property
    def kind(self) -> str:
        """``rtsp``, ``http``, ``lavfi``, ``usb`` or ``file``."""
        return source_kind(self.source)

    @property
    def safe_source(self) -> str:
        """``source`` with URL credentials masked, for logs and status."""
        return mask_url(self.source)


@dataclass(frozen=True)
class ApiKey:
    """``api.keys[]``: a key's owner, its ``sha256:<hex>`` hash and its role."""

    name: str
    hash: str
    role: str = "viewer"


@dataclass(frozen=True)
class RateLimitConfig:
    """``api.rate_limit``: token bucket per client (requests per second, bucket size) and the
    failed authentications allowed per address per minute."""

    rate: float = 20.0
    burst: int = 40
    auth_failures: int = 10


@dataclass(frozen=True)
class ApiConfig:
    """``api:`` section."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765
    auth: str = "auto"
    jwt_secret: str | None = None
    keys: tuple[ApiKey, ...] = ()
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    max_websockets: int = 64
    max_streams: int = 64

    @property
    def loopback(self) -> bool:
        """Whether the API listens on a loopback address only."""
        return is_loopback(self.host)

    @property
    def auth_required(self) -> bool:
        """Whether requests (other than the health probes) must authenticate."""
        return self.auth == "required" or (self.auth == "auto" and not self.loopback)


@dataclass(frozen=True)
class RecordConfig:
    """``mediamtx.record``: recording defaults (MediaMTX duration strings such as ``1h``)."""

    enabled: bool = False
    path: str = "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"
    format: str = "fmp4"
    segment_duration: str = "1h"
    delete_after: str = "1d"


@dataclass(frozen=True)
class MediamtxConfig:
    """``mediamtx:`` section (URLs without a trailing ``/``; durations in seconds)."""

    enabled: bool = False
    api_url: str = "http://127.0.0.1:9997"
    username: str | None = None
    password: str | None = None
    rtsp_url: str = "rtsp://127.0.0.1:8554"
    hls_url: str = "http://127.0.0.1:8888"
    webrtc_url: str = "http://127.0.0.1:8889"
    config_out: str | None = None
    read_via_mediamtx: bool = False
    health_interval: float = 5.0
    reconcile_interval: float = 60.0
    request_timeout: float = 5.0
    record: RecordConfig = field(default_factory=RecordConfig)


@dataclass(frozen=True)
class UsbConfig:
    """``usb:`` section: hot-plug discovery (``poll_interval`` in seconds)."""

    discovery: str = "hybrid"
    poll_interval: float = 5.0
    auto_add: bool = False
    sysfs_root: str = "/sys"


@dataclass(frozen=True)
class Config:
    """The validated configuration."""

    mqtt: MqttConfig
    cameras: dict[str, CameraConfig]
    log_level: str = "info"
    log_format: str = "text"
    data_dir: str | None = None
    api: ApiConfig = field(default_factory=ApiConfig)
    #: ``timelapse:`` (a ``bridge.timelapse.config.Defaults``) and ``timelapses:`` (id -> ``Spec``)
    timelapse: Any = None
    timelapses: dict[str, Any] = field(default_factory=dict)
    #: the global ``detect:`` section (the API's detector; cameras carry their merged own)
    detect: DetectConfig = field(default_factory=lambda: _detect.DetectConfig())
    mediamtx: MediamtxConfig = field(default_factory=MediamtxConfig)
    usb: UsbConfig = field(default_factory=UsbConfig)

    @property
    def state_dir(self) -> Path:
        """Where state lives: ``data_dir``, else ``$STATE_DIRECTORY`` (systemd), else ``./data``."""
        if self.data_dir:
            return Path(self.data_dir)
        state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(state) if state else Path("data")


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


def section_schema(options: tuple[Option, ...], extra: Mapping[Any, Any] | None = None) -> vol.Schema:
    """The voluptuous schema of one config section from its Option table (defaults filled in),
    with ``extra`` keys (sub-sections) added."""
    schema: dict[Any, Any] = {}
    for opt in options:
        marker = vol.Required(opt.key) if opt.required else vol.Optional(opt.key, default=opt.default)
        schema[marker] = opt.validator
    schema.update(extra or {})
    return vol.Schema(schema)


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


def _timelapse(name: str) -> Any:
    """A validator of bridge/timelapse/config.py, imported when first used (it builds on this
    module's Option)."""

    def check(value: Any) -> Any:
        from .timelapse import config as timelapse_config

        return getattr(timelapse_config, name)(value)

    return check


CAMERA_SCHEMA = section_schema(
    CAMERA_OPTIONS, {vol.Optional("snapshot", default=dict): section_schema(SNAPSHOT_OPTIONS),
                     vol.Optional("timelapse", default=dict): _timelapse("validate_overrides")}
).extend({vol.Optional("url", default=None): _optional(_camera_url),
          vol.Optional("device", default=None): _optional(_device)})
#: camera ids that would collide with the bridge's own topics and HA device
RESERVED_IDS = frozenset({"bridge", "timelapse"})


def _cameras(value: Any) -> dict[str, Any]:
    """Validate every camera (id and body), collecting all errors with their paths."""
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of camera id to camera")
    errors: list[vol.Invalid] = []
    valid: dict[str, Any] = {}
    for cam_id, cam in value.items():
        if not isinstance(cam_id, str) or not CAMERA_ID.match(cam_id):
            errors.append(vol.Invalid("invalid camera id, expected a slug [a-z0-9_]+", [cam_id]))
            continue
        if cam_id in RESERVED_IDS:
            errors.append(vol.Invalid(f"camera id {cam_id!r} is reserved for the bridge", [cam_id]))
            continue
        cam = cam if cam is not None else {}
        if isinstance(cam, dict) and (cam.get("url") is None) == (cam.get("device") is None):
            errors.append(vol.Invalid("set exactly one of url and device", [cam_id]))
        try:
            valid[cam_id] = CAMERA_SCHEMA(cam)
        except vol.MultipleInvalid as err:
            errors += [vol.Invalid(e.error_message, [cam_id, *e.path]) for e in err.errors]
        except vol.Invalid as err:
            errors.append(vol.Invalid(err.error_message, [cam_id, *err.path]))
    if errors:
        raise vol.MultipleInvalid(errors)
    return valid


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` or an IP in 127.0.0.0/8 or ::1);
    a host *name* such as ``127.example.com`` is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_auth(api: dict[str, Any]) -> dict[str, Any]:
    host = api["host"]
    loopback = is_loopback(host)
    if api["auth"] == "off" and not loopback:
        raise vol.Invalid("auth: off is only allowed on a loopback host", ["auth"])
    required = api["auth"] == "required" or (api["auth"] == "auto" and not loopback)
    if api["enabled"] and required and not (api["keys"] or api["jwt_secret"]):
        why = "auth is required off loopback" if not loopback else "api.auth is required"
        raise vol.Invalid(f"listening on {host} needs api.keys or api.jwt_secret ({why})", ["keys"])
    return api


API_SCHEMA = vol.All(
    section_schema(API_OPTIONS, {
        vol.Optional("keys", default=list): [section_schema(API_KEY_OPTIONS)],
        vol.Optional("rate_limit", default=dict): section_schema(RATE_LIMIT_OPTIONS),
    }),
    _api_auth,
)

SCHEMA = section_schema(
    TOP_OPTIONS,
    {vol.Required("mqtt"): section_schema(MQTT_OPTIONS), vol.Required("cameras"): _cameras,
     vol.Optional("api", default=dict): API_SCHEMA,
     vol.Optional("mediamtx", default=dict): section_schema(
         MEDIAMTX_OPTIONS, {vol.Optional("record", default=dict): section_schema(RECORD_OPTIONS)}),
     vol.Optional("usb", default=dict): section_schema(USB_OPTIONS),
     vol.Optional("timelapse", default=dict): _timelapse("validate_defaults"),
     vol.Optional("timelapses", default=dict): _timelapse("validate_timelapses")},
)


# ---------------------------------------------------------------------------------------------
# YAML loading


class _EnvRef:
    """Placeholder for an ``!env NAME`` whose variable is not set (reported with its key path)."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Loader(yaml.SafeLoader):
    """SafeLoader with the ``!env NAME`` / ``!env NAME:default`` tag."""


def _env_tag(loader: _Loader, node: yaml.Node) -> Any:
    spec = loader.construct_scalar(node)
    name, sep, default = spec.partition(":")
    environ = getattr(loader, "environ", os.environ)
    if name in environ:
        return environ[name]  # a string; the schema coerces numbers and booleans
    return default if sep else _EnvRef(name)


_Loader.add_constructor("!env", _env_tag)


def _check_duplicates(node: yaml.Node, path: list[str], errors: list[str]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                what = "duplicate camera id" if path == ["cameras"] else "duplicate key"
                errors.append(f"{join_path(path + [key])}: {what} (line {key_node.start_mark.line + 1})")
            seen.add(key)
            _check_duplicates(value_node, path + [key], errors)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, path + [str(i)], errors)


def join_path(path: list[Any]) -> str:
    """A voluptuous error path as the dotted key path of messages (``cameras.door.url``)."""
    return ".".join(str(p) for p in path) or "(top level)"


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``CAMERA_BRIDGE_MQTT__PASSWORD=x`` sets ``mqtt.password``; levels split on ``__``.

    Top-level options are set without ``__`` (``CAMERA_BRIDGE_LOG_LEVEL``); other variables of
    the prefix (``CAMERA_BRIDGE_CONFIG``) are left alone.
    """
    top = {o.key for o in TOP_OPTIONS}
    for name, raw in sorted(environ.items()):
        rest = name[len(ENV_PREFIX):].lower()
        if not name.startswith(ENV_PREFIX) or ("__" not in rest and rest not in top):
            continue
        *parents, leaf = rest.split("__")
        node: dict[str, Any] = data
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = raw  # a string; the schema coerces numbers and booleans


def _missing_env(value: Any, path: list[Any], errors: list[str]) -> None:
    if isinstance(value, _EnvRef):
        errors.append(f"{join_path(path)}: environment variable {value.name} is not set")
    elif isinstance(value, dict):
        for key, item in value.items():
            _missing_env(item, path + [key], errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _missing_env(item, path + [i], errors)


_MESSAGES = {
    "extra keys not allowed": "unknown key",
    "required key not provided": "required key missing",
}


def error_message_of(err: vol.Invalid) -> str:
    """The user-facing text of a voluptuous error (what was expected)."""
    return _MESSAGES.get(err.error_message, err.error_message)


def parse(text: str, environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate YAML ``text`` into a :class:`Config`.

    ``environ`` (default ``os.environ``) supplies ``!env`` values and ``CAMERA_BRIDGE_*``
    overrides. Raises :class:`ConfigError` listing every problem as ``key.path: message``.
    """
    environ = os.environ if environ is None else environ
    errors: list[str] = []
    loader = _Loader(text)
    loader.environ = environ  # type: ignore[attr-defined]
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_duplicates(node, [], errors)
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as err:
        raise ConfigError([f"(yaml): {err}"]) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping with mqtt and cameras"])
    _apply_env_overrides(data, environ)
    _missing_env(data, [], errors)
    reported = {line.split(": ", 1)[0] for line in errors}
    try:
        valid = SCHEMA(data)
    except vol.MultipleInvalid as err:
        found = {f"{join_path(e.path)}: {error_message_of(e)}" for e in err.errors}
        errors += sorted(line for line in found if line.split(": ", 1)[0] not in reported)
    if not errors:
        node_id = valid["mqtt"]["base_topic"].replace("/", "_")
        if node_id in valid["cameras"]:
            errors.append(f"cameras.{node_id}: camera id equals the bridge's node id "
                          "(mqtt.base_topic); rename the camera or change base_topic")
        from .timelapse.config import check_references

        errors += check_references(valid)
    if errors:
        raise ConfigError(errors)
    return _build(valid)


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML file at ``path``; see :func:`parse`.

    Raises :class:`ConfigError` (also when the file cannot be read).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"(file): cannot read {path}: {err.strerror}"]) from err
    return parse(text, environ)


def _camera(cam_id: str, cam: dict[str, Any], detect: dict[str, Any] | None = None) -> CameraConfig:
    cam = dict(cam)
    snapshot = SnapshotConfig(**cam.pop("snapshot"))
    cam["detect"] = _detect.build(cam.pop("detect", None) or {}, detect)
    if cam["detect"].kind == "onnx" and not cam["detect"].model:
        raise ConfigError([f"cameras.{cam_id}.detect.model: detector onnx needs a model file"])
    return CameraConfig(id=cam_id, snapshot=snapshot, **cam)


def _build(valid: dict[str, Any]) -> Config:
    mqtt = MqttConfig(**valid["mqtt"])
    cameras = {cam_id: _camera(cam_id, cam, valid["detect"]) for cam_id, cam in valid["cameras"].items()}
    api = dict(valid["api"])
    api["keys"] = tuple(ApiKey(**key) for key in api["keys"])
    api["rate_limit"] = RateLimitConfig(**api["rate_limit"])
    media = dict(valid["mediamtx"])
    media["record"] = RecordConfig(**media["record"])
    for key in ("api_url", "rtsp_url", "hls_url", "webrtc_url"):
        media[key] = media[key].rstrip("/")
    config = Config(mqtt=mqtt, cameras=cameras, log_level=valid["log_level"],
                    log_format=valid["log_format"], data_dir=valid["data_dir"], api=ApiConfig(**api),
                    detect=_detect.build({}, valid["detect"]),
                    mediamtx=MediamtxConfig(**media), usb=UsbConfig(**valid["usb"]),
                    timelapse=valid["timelapse"], timelapses=valid["timelapses"])
    register_secrets(config)
    return config


def camera_from_data(cam_id: str, data: Any, base_topic: str = "camera_bridge",
                     detect: DetectConfig | None = None) -> CameraConfig:
    """Validate one camera given as plain data (the API's body), with the same schema and the
    same messages as YAML (paths ``cameras.<id>.<key>``). Its ``detect`` options are laid over
    ``detect`` (the global section, ``Config.detect``: as for a YAML camera), else over the
    built-in defaults. Raises :class:`ConfigError`."""
    try:
        valid = _cameras({cam_id: data})
    except vol.MultipleInvalid as err:
        raise ConfigError(sorted({f"cameras.{join_path(e.path)}: {error_message_of(e)}" for e in err.errors})) from err
    if cam_id == base_topic.replace("/", "_"):
        raise ConfigError([f"cameras.{cam_id}: camera id equals the bridge's node id (mqtt.base_topic)"])
    camera = _camera(cam_id, valid[cam_id], _detect.section(detect) if detect is not None else None)
    _register_url_password(camera)
    return camera


def camera_data(camera: CameraConfig) -> dict[str, Any]:
    """A camera as plain data (what the registry stores), without its id; secrets included."""
    data = dataclasses.asdict(camera)
    del data["id"]
    data["detect"] = _detect.as_data(camera.detect)
    return data


def register_secrets(config: Config) -> None:
    """Register the config's secrets with the process-wide redactor (logs, MQTT, status)."""
    REDACTOR.add(config.mqtt.password)
    REDACTOR.add(config.api.jwt_secret)
    REDACTOR.add(config.mediamtx.password)
    media = config.mediamtx
    for url in (media.api_url, media.rtsp_url, media.hls_url, media.webrtc_url):
        _register_password_of(url)
    for cam in config.cameras.values():
        _register_url_password(cam)


def _register_password_of(url: str) -> None:
    """Register the password of a ``scheme://user:password@host`` URL as a secret."""
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s]*)@", url)
    if match:
        REDACTOR.add(match.group(1))


def _register_url_password(camera: CameraConfig) -> None:
    """Register the password of a ``scheme://user:password@host`` camera URL as a secret."""
    _register_password_of(camera.source)


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data with every secret replaced by ``***``."""
    data = dataclasses.asdict(config)
    if data["mqtt"]["password"]:
        data["mqtt"]["password"] = MASK
    if data["api"]["jwt_secret"]:
        data["api"]["jwt_secret"] = MASK
    data["detect"] = _detect.as_data(config.detect)
    if data["mediamtx"]["password"]:
        data["mediamtx"]["password"] = MASK
    for key in ("api_url", "rtsp_url", "hls_url", "webrtc_url"):
        data["mediamtx"][key] = mask_url(data["mediamtx"][key])
    for cam_id, cam in data["cameras"].items():
        del cam["id"]
        detect = config.cameras[cam_id].detect  # a camera without detection: just that
        cam["detect"] = _detect.as_data(detect) if detect.enabled else {"enabled": False}
        if cam["url"]:
            cam["url"] = mask_url(cam["url"])
    from .timelapse.config import plain_sections

    plain_sections(config, data)
    return data


# ---------------------------------------------------------------------------------------------
# detection (its options live in bridge/detect/config.py, which needs Option from above)

from .detect import config as _detect  # noqa: E402
from .detect.config import (  # noqa: E402,F401 - option tables listed here for the docs check
    DETECT_CAPTURE_OPTIONS,
    DETECT_MOTION_OPTIONS,
    DETECT_OBJECT_OPTIONS,
    DETECT_OPTIONS,
    DetectConfig,
)

CAMERA_SCHEMA = CAMERA_SCHEMA.extend({vol.Optional("detect"): _detect.CAMERA_DETECT_SCHEMA})
SCHEMA = SCHEMA.extend({vol.Optional("detect", default=dict): vol.All(_detect.DETECT_SCHEMA, _detect.check)})
