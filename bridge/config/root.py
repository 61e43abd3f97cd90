"""The whole configuration file: the top-level options, the sections' schema, the validated
:class:`Config`, and the checks across sections."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol

from . import api as _api
from . import audit as _audit
from . import camera as _camera
from . import cluster as _cluster
from . import detect as _detect
from . import mediamtx as _mediamtx
from . import mqtt as _mqtt
from . import timelapse as _timelapse
from . import usb as _usb
from .api import ApiConfig
from .audit import AuditConfig
from .camera import CameraConfig
from .cluster import ClusterConfig
from .detect import DetectConfig
from .mediamtx import MediamtxConfig
from .mqtt import MqttConfig
from .options import Section, Sections, integer, nest, option, optional, options_of, section_schema, text
from .timelapse import Defaults, Spec
from .usb import UsbConfig


@dataclass(frozen=True)
class Config:
    """The validated configuration."""

    mqtt: MqttConfig
    cameras: dict[str, CameraConfig]
    log_level: str = option(vol.All(vol.Lower, vol.In(("debug", "info", "warning", "error"))), "info", "Log level.")
    log_format: str = option(
        vol.All(vol.Lower, vol.In(("text", "json"))),
        "text",
        "Log line format: `text`, or `json` (one JSON object per line, with the request id).",
    )
    data_dir: str | None = option(
        optional(text()), None, "Directory for state (SQLite); default `$STATE_DIRECTORY` (systemd) or `./data`."
    )
    encoder_threads: int | None = option(
        optional(integer(1, 64)),
        None,
        "Threads decoding keyframes and encoding JPEGs for all cameras; default one per core, at most 4.",
    )
    api: ApiConfig = field(default_factory=ApiConfig)
    #: ``timelapse:`` (the global defaults) and ``timelapses:`` (id -> its definition)
    timelapse: Defaults = field(default_factory=Defaults)
    timelapses: dict[str, Spec] = field(default_factory=dict)
    #: the global ``detect:`` section (the API's detector; cameras carry their merged own)
    detect: DetectConfig = field(default_factory=DetectConfig)
    mediamtx: MediamtxConfig = field(default_factory=MediamtxConfig)
    usb: UsbConfig = field(default_factory=UsbConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)

    @property
    def state_dir(self) -> Path:
        """Where state lives: ``data_dir``, else ``$STATE_DIRECTORY`` (systemd), else ``./data``."""
        if self.data_dir:
            return Path(self.data_dir)
        state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(state) if state else Path("data")


TOP_OPTIONS = options_of(Config)

SCHEMA = section_schema(
    TOP_OPTIONS,
    {
        vol.Required("mqtt"): _mqtt.MQTT_SCHEMA,
        vol.Required("cameras"): _camera.validate_cameras,
        vol.Optional("api", default=dict): _api.API_SCHEMA,
        vol.Optional("detect", default=dict): _detect.SECTION_SCHEMA,
        vol.Optional("mediamtx", default=dict): _mediamtx.MEDIAMTX_SCHEMA,
        vol.Optional("usb", default=dict): _usb.USB_SCHEMA,
        vol.Optional("cluster", default=dict): _cluster.CLUSTER_SCHEMA,
        vol.Optional("audit", default=dict): _audit.AUDIT_SCHEMA,
        vol.Optional("timelapse", default=dict): _timelapse.validate_defaults,
        vol.Optional("timelapses", default=dict): _timelapse.validate_timelapses,
    },
)

#: every section of the file by key path (as in docs/configuration.md: ``<id>`` is any key of a
#: mapping, ``[]`` any entry of a list), with its options and sub-sections
SECTIONS: Sections = {
    "": Section(
        TOP_OPTIONS,
        ("mqtt", "cameras", "api", "detect", "mediamtx", "usb", "cluster", "audit", "timelapse", "timelapses"),
    ),
    **nest("mqtt", _mqtt.SECTIONS),
    **nest("cameras.<id>", _camera.SECTIONS),
    **nest("api", _api.SECTIONS),
    **nest("detect", _detect.SECTIONS),
    **nest("mediamtx", _mediamtx.SECTIONS),
    **nest("usb", _usb.SECTIONS),
    **nest("cluster", _cluster.SECTIONS),
    **nest("audit", _audit.SECTIONS),
    **nest("timelapse", _timelapse.SECTIONS),
    **nest("timelapses", _timelapse.TIMELAPSES_SECTIONS),
}


def check(valid: dict[str, Any]) -> list[str]:
    """Checks across sections of the validated data, as ``key.path: message`` lines: no camera
    takes the bridge's node id, timelapses name existing cameras."""
    errors: list[str] = []
    node_id = valid["mqtt"]["base_topic"].replace("/", "_")
    if node_id in valid["cameras"]:
        errors.append(
            f"cameras.{node_id}: camera id equals the bridge's node id "
            "(mqtt.base_topic); rename the camera or change base_topic"
        )
    return errors + _timelapse.check_references(valid)


def build(valid: dict[str, Any]) -> Config:
    """The :class:`Config` of validated data (checked with :func:`check`). Raises
    :class:`~bridge.errors.ConfigError` (a camera's ``detector: onnx`` without a model)."""
    cameras = {cam_id: _camera.build(cam_id, cam, valid["detect"]) for cam_id, cam in valid["cameras"].items()}
    return Config(
        mqtt=MqttConfig(**valid["mqtt"]),
        cameras=cameras,
        log_level=valid["log_level"],
        log_format=valid["log_format"],
        data_dir=valid["data_dir"],
        encoder_threads=valid["encoder_threads"],
        api=_api.build(valid["api"]),
        detect=_detect.build({}, valid["detect"]),
        mediamtx=_mediamtx.build(valid["mediamtx"]),
        usb=UsbConfig(**valid["usb"]),
        cluster=ClusterConfig(**valid["cluster"]),
        audit=_audit.build(valid["audit"]),
        timelapse=valid["timelapse"],
        timelapses=valid["timelapses"],
    )
