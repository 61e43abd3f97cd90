"""Topic names (see docs/mqtt.md). ``{base}`` is ``mqtt.base_topic``."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import MqttConfig
from ..config.options import default_of

ONLINE = "online"
OFFLINE = "offline"
#: per-camera state topics that are retained and cleared when a camera is removed
CAMERA_RETAINED = ("availability", "enabled/state", "status", "snapshot", "record/state", "stream")
#: per-timelapse retained topics, cleared when a timelapse is removed
TIMELAPSE_RETAINED = ("state", "image", "render")


@dataclass(frozen=True)
class Topics:
    """Topic builder for one bridge."""

    base: str
    discovery_prefix: str
    ha_status: str = default_of(MqttConfig, "ha_status_topic")
    """Home Assistant's birth/last-will topic (HA's default ignores the discovery prefix)."""
    member: str | None = None
    """This bridge's cluster member name (cluster mode): its own availability, state and device."""

    @property
    def node_id(self) -> str:
        """Discovery node id and unique-id prefix, derived from the base topic."""
        return self.base.replace("/", "_")

    @property
    def bridge_key(self) -> str:
        """``bridge``, or ``bridge_{member}`` in cluster mode: the bridge device's id part."""
        return "bridge" if self.member is None else f"bridge_{self.member}"

    @property
    def bridge_availability(self) -> str:
        """``{base}/bridge/availability``; ``{base}/bridge/{member}/availability`` in cluster mode."""
        if self.member is not None:
            return f"{self.base}/bridge/{self.member}/availability"
        return f"{self.base}/bridge/availability"

    @property
    def bridge_state(self) -> str:
        """``{base}/bridge/state``; ``{base}/bridge/{member}/state`` in cluster mode."""
        if self.member is not None:
            return f"{self.base}/bridge/{self.member}/state"
        return f"{self.base}/bridge/state"

    def camera(self, camera_id: str, leaf: str) -> str:
        """``{base}/{camera}/{leaf}``, e.g. ``leaf="snapshot/set"``."""
        return f"{self.base}/{camera_id}/{leaf}"

    @property
    def snapshot_command_filter(self) -> str:
        return f"{self.base}/+/snapshot/set"

    @property
    def detect_command_filter(self) -> str:
        return f"{self.base}/+/detect/set"

    @property
    def bridge_usb(self) -> str:
        """``{base}/bridge/usb``: USB devices plugged in or removed (events, not retained)."""
        return f"{self.base}/bridge/usb"

    @property
    def record_command_filter(self) -> str:
        """``{base}/+/record/set``: recording switch commands (with MediaMTX)."""
        return f"{self.base}/+/record/set"

    def command_camera(self, topic: str) -> str | None:
        """The camera id of a ``{base}/{camera}/snapshot/set`` topic, else None."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/snapshot/set"):
            return None
        camera_id = topic[len(prefix) : -len("/snapshot/set")]
        return camera_id if camera_id and "/" not in camera_id else None

    def timelapse(self, timelapse_id: str, leaf: str) -> str:
        """``{base}/timelapse/{timelapse}/{leaf}``: ``state``, ``image``, ``render``, ``set``."""
        return f"{self.base}/timelapse/{timelapse_id}/{leaf}"

    @property
    def timelapse_command_filter(self) -> str:
        return f"{self.base}/timelapse/+/set"

    def command_timelapse(self, topic: str) -> str | None:
        """The timelapse id of a ``{base}/timelapse/{timelapse}/set`` topic, else None."""
        prefix = f"{self.base}/timelapse/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        timelapse_id = topic[len(prefix) : -len("/set")]
        return timelapse_id if timelapse_id and "/" not in timelapse_id else None

    def discovery(self, component: str, object_id: str) -> str:
        """``{prefix}/{component}/{node_id}/{object_id}/config``."""
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def discovery_filter(self) -> str:
        """Matches every discovery config this bridge may have published."""
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"
