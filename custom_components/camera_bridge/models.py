"""What the bridge's API answers, as frozen dataclasses (no Home Assistant imports). Each keeps
``raw``, everything the bridge sent, so fields of newer bridges reach the entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: type of the pseudo-event ``CameraBridgeClient.events`` yields first, once subscribed
SUBSCRIBED = "subscribed"


@dataclass(frozen=True)
class Camera:
    """A camera as the bridge shows it (``GET /api/cameras``): ``id``, ``name``, ``kind``
    (rtsp, http, file, lavfi, usb), ``state`` (connecting, streaming, backoff, error, stopped,
    offline, disabled: switched off),
    ``fps`` (frames per second or None), ``width``/``height`` (pixels or None),
    ``last_frame_at`` (ISO 8601 UTC or None), ``stream_urls`` (e.g. ``{"rtsp": url}`` once the
    bridge restreams), and ``raw``: every field the bridge sent (newer bridges send more)."""

    id: str
    name: str
    kind: str
    state: str
    fps: float | None
    width: int | None
    height: int | None
    last_frame_at: str | None
    reconnects: int
    error: str | None
    stream_urls: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Camera:
        """From the API's camera object (or a ``camera.status`` event merged into one)."""
        return cls(
            id=data["id"],
            name=data.get("name") or data["id"],
            kind=data.get("kind", ""),
            state=data.get("state", "stopped"),
            fps=data.get("fps"),
            width=data.get("width"),
            height=data.get("height"),
            last_frame_at=data.get("last_frame_at"),
            reconnects=int(data.get("reconnects") or 0),
            error=data.get("error"),
            stream_urls=dict(data.get("stream_urls") or {}),
            raw=dict(data),
        )

    @property
    def detection_labels(self) -> list[str]:
        """The labels the camera's detection tracks (``detect.objects``), empty without
        detection (``detect.enabled`` false, or a bridge without detection)."""
        detect = self.raw.get("detect")
        if not isinstance(detect, dict) or not detect.get("enabled"):
            return []
        objects = detect.get("objects") or {}
        return sorted(objects) if isinstance(objects, dict) else sorted(str(o) for o in objects)

    @property
    def streams(self) -> list[dict[str, Any]]:
        """The camera's streams with their status (``url`` masked, ``roles``, ``state``,
        ``fps``, ``width``, ``height``, ``codec``); empty from a bridge without them."""
        streams = self.raw.get("streams")
        return [s for s in streams if isinstance(s, dict)] if isinstance(streams, list) else []

    @property
    def enabled(self) -> bool:
        """The camera's on/off switch (``enabled``; a bridge without it: on unless ``disabled``)."""
        enabled = self.raw.get("enabled")
        return self.state != "disabled" if enabled is None else bool(enabled)

    def with_status(self, status: dict[str, Any]) -> Camera:
        """This camera updated with a ``camera.status`` event's fields."""
        merged = {**self.raw, **{k: v for k, v in status.items() if k not in ("camera", "type", "time")}}
        merged["id"] = self.id
        return Camera.from_dict(merged)


@dataclass(frozen=True)
class Timelapse:
    """A timelapse as the bridge shows it (``GET /api/timelapses``): ``id``, ``name``,
    ``camera`` (camera id), ``state`` (created, running, paused, stopped, completed, degraded,
    error), ``reason`` (why error/degraded/completed), ``frames`` (kept), ``videos`` (rendered),
    ``last_capture_at`` (ISO 8601 or None), ``render`` (the running or last render: ``state``,
    ``percent``, ...; None before the first), ``raw``: everything sent."""

    id: str
    name: str
    camera: str
    state: str
    reason: str | None
    frames: int
    videos: int
    last_capture_at: str | None
    render: dict[str, Any] | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timelapse:
        """From the API's timelapse object (or a ``timelapse.status`` event merged into one)."""
        return cls(
            id=data["id"],
            name=data.get("name") or data["id"],
            camera=data.get("camera", ""),
            state=data.get("state", "created"),
            reason=data.get("reason"),
            frames=int(data.get("frames") or 0),
            videos=int(data.get("videos") or 0),
            last_capture_at=data.get("last_capture_at"),
            render=data.get("render"),
            raw=dict(data),
        )

    def updated(self, changes: dict[str, Any]) -> Timelapse:
        """This timelapse with some fields changed."""
        return Timelapse.from_dict({**self.raw, **changes, "id": self.id})


@dataclass(frozen=True)
class BridgeInfo:
    """``GET /api/bridge``: ``id`` (persistent, 32 hex), ``version``, ``started_at`` (ISO 8601),
    ``uptime_s`` (seconds), ``discovery`` (HA MQTT discovery published), ``node_id`` (prefix
    of the bridge's MQTT discovery unique ids), ``raw``: everything sent."""

    id: str
    version: str
    started_at: str | None
    uptime_s: int
    discovery: bool
    discovery_configured: bool
    node_id: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BridgeInfo:
        """From the API's bridge object."""
        mqtt = data.get("mqtt") or {}
        return cls(
            id=data["id"],
            version=data.get("version", ""),
            started_at=data.get("started_at"),
            uptime_s=int(data.get("uptime_s") or 0),
            discovery=bool(data.get("discovery")),
            discovery_configured=bool(mqtt.get("discovery_configured")),
            node_id=mqtt.get("node_id", ""),
            raw=dict(data),
        )


@dataclass(frozen=True)
class BridgeEvent:
    """One event of the bridge's bus: ``type`` (``camera.status``, ``camera.removed``, later
    ``detection.*``/``timelapse.*``), ``data`` (the event's fields), ``time`` (epoch seconds),
    ``missed`` (events lost before this one because the client fell behind)."""

    type: str
    data: dict[str, Any]
    time: float
    missed: int = 0
