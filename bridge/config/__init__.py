"""Configuration: YAML (with ``!env`` tags and ``CAMERA_BRIDGE_*`` overrides) validated with
voluptuous into frozen dataclasses that the rest of the bridge trusts.

Every option is declared once, as a field of its section's dataclass (see
:mod:`bridge.config.options`): key, validator, default, description. The schema, the defaults
and the reference in docs/configuration.md (checked by a test) all come from there.

Modules: ``options`` (how an option is declared, shared validators), one module per section
(``mqtt``, ``camera``, ``api``, ``detect``, ``mediamtx``, ``usb``, ``cluster``, ``timelapse``),
``root`` (the top level and the whole file's schema), ``load`` (YAML, ``!env``, environment overrides),
``secrets`` (registering and masking secrets), ``messages`` (error texts). The names below are
the package's public interface.
"""

from ..errors import ConfigError
from .api import (
    API_KEY_OPTIONS,
    API_OPTIONS,
    API_SCHEMA,
    RATE_LIMIT_OPTIONS,
    ROLES,
    TLS_OPTIONS,
    ApiConfig,
    ApiKey,
    RateLimitConfig,
    TlsConfig,
    is_loopback,
)
from .audit import AUDIT_OPTIONS, AuditConfig
from .camera import (
    CAMERA_ID,
    CAMERA_OPTIONS,
    CAMERA_SCHEMA,
    EVENT_SNAPSHOT_OPTIONS,
    RESERVED_IDS,
    SNAPSHOT_OPTIONS,
    URL_EXPECTED,
    CameraConfig,
    EventSnapshotConfig,
    SnapshotConfig,
    camera_data,
    camera_from_data,
    source_kind,
)
from .cluster import CLUSTER_OPTIONS, ClusterConfig
from .detect import (
    DETECT_CAPTURE_OPTIONS,
    DETECT_CLIPS_OPTIONS,
    DETECT_MOTION_OPTIONS,
    DETECT_OBJECT_OPTIONS,
    DETECT_OPTIONS,
    DetectConfig,
)
from .load import ENV_PREFIX, load, parse
from .mediamtx import MEDIAMTX_OPTIONS, RECORD_OPTIONS, MediamtxConfig, RecordConfig
from .messages import error_message_of, join_path
from .mqtt import MQTT_OPTIONS, MqttConfig
from .options import Option, optional, positive, section_schema
from .root import SCHEMA, SECTIONS, TOP_OPTIONS, Config
from .secrets import masked, register_secrets
from .usb import USB_OPTIONS, UsbConfig

__all__ = [
    "API_KEY_OPTIONS",
    "API_OPTIONS",
    "API_SCHEMA",
    "AUDIT_OPTIONS",
    "CAMERA_ID",
    "CAMERA_OPTIONS",
    "CAMERA_SCHEMA",
    "CLUSTER_OPTIONS",
    "DETECT_CAPTURE_OPTIONS",
    "DETECT_CLIPS_OPTIONS",
    "DETECT_MOTION_OPTIONS",
    "DETECT_OBJECT_OPTIONS",
    "DETECT_OPTIONS",
    "ENV_PREFIX",
    "EVENT_SNAPSHOT_OPTIONS",
    "MEDIAMTX_OPTIONS",
    "MQTT_OPTIONS",
    "RATE_LIMIT_OPTIONS",
    "RECORD_OPTIONS",
    "RESERVED_IDS",
    "ROLES",
    "SCHEMA",
    "SECTIONS",
    "SNAPSHOT_OPTIONS",
    "TLS_OPTIONS",
    "TOP_OPTIONS",
    "URL_EXPECTED",
    "USB_OPTIONS",
    "ApiConfig",
    "ApiKey",
    "AuditConfig",
    "CameraConfig",
    "ClusterConfig",
    "Config",
    "ConfigError",
    "DetectConfig",
    "EventSnapshotConfig",
    "MediamtxConfig",
    "MqttConfig",
    "Option",
    "RateLimitConfig",
    "RecordConfig",
    "SnapshotConfig",
    "TlsConfig",
    "UsbConfig",
    "camera_data",
    "camera_from_data",
    "error_message_of",
    "is_loopback",
    "join_path",
    "load",
    "masked",
    "optional",
    "parse",
    "positive",
    "register_secrets",
    "section_schema",
    "source_kind",
]
