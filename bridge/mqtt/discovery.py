"""Home Assistant MQTT discovery payloads (per-entity topics, understood by HA 2024.3+).

Reference: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery. One HA device per
camera, linked to the bridge device with ``via_device``; every payload carries an ``origin``
block, a stable ``unique_id`` (``{node_id}_{camera}_{key}``, ``{node_id}_bridge_{key}`` for the
bridge's own entities) and both ``object_id`` (HA before
2025.10) and ``default_entity_id`` (HA 2025.10+).
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..config import CameraConfig
from .topics import OFFLINE, ONLINE, Topics

ORIGIN = {
    "name": "Camera Bridge",
    "sw_version": __version__,
    "support_url": "https://github.com/camera-bridge/camera-bridge",
}
MANUFACTURER = "Camera Bridge"
_MODELS = {"rtsp": "RTSP camera", "http": "HTTP camera", "usb": "USB camera",
           "file": "File source", "lavfi": "Synthetic source"}

Config = tuple[str, dict[str, Any]]  # (discovery topic, payload)


def bridge_device(topics: Topics) -> dict[str, Any]:
    """The bridge's own HA device."""
    return {
        "identifiers": [f"{topics.node_id}_bridge"],
        "name": "Camera bridge",
        "manufacturer": MANUFACTURER,
        "model": "Camera Bridge",
        "sw_version": __version__,
    }


def camera_device(topics: Topics, cam: CameraConfig) -> dict[str, Any]:
    """A camera's HA device, linked to the bridge device."""
    return {
        "identifiers": [f"{topics.node_id}_{cam.id}"],
        "name": cam.display_name,
        "manufacturer": MANUFACTURER,
        "model": _MODELS.get(cam.kind, "Camera"),
        "via_device": f"{topics.node_id}_bridge",
    }


def _entity(topics: Topics, component: str, owner: str, key: str, object_id: str,
            device: dict[str, Any], availability: list[str], **fields: Any) -> Config:
    """One entity's config; ``owner`` is the camera id or ``bridge`` (a reserved camera id)."""
    payload: dict[str, Any] = {
        "unique_id": f"{topics.node_id}_{owner}_{key}",
        "object_id": object_id,
        "default_entity_id": f"{component}.{object_id}",
        "device": device,
        "origin": ORIGIN,
        **fields,
    }
    if availability:
        payload["availability"] = [
            {"topic": t, "payload_available": ONLINE, "payload_not_available": OFFLINE}
            for t in availability
        ]
        payload["availability_mode"] = "all"
    return topics.discovery(component, object_id), payload


def bridge_configs(topics: Topics) -> list[Config]:
    """Bridge device entities: connectivity, version, uptime."""
    device = bridge_device(topics)
    avail = [topics.bridge_availability]
    node = topics.node_id
    return [
        _entity(topics, "binary_sensor", "bridge", "connectivity", f"{node}_connectivity", device, [],
                name="Connectivity", device_class="connectivity", entity_category="diagnostic",
                state_topic=topics.bridge_availability, payload_on=ONLINE, payload_off=OFFLINE),
        _entity(topics, "sensor", "bridge", "version", f"{node}_version", device, avail,
                name="Version", entity_category="diagnostic", icon="mdi:tag",
                state_topic=topics.bridge_state, value_template="{{ value_json.version }}"),
        _entity(topics, "sensor", "bridge", "uptime", f"{node}_uptime", device, avail,
                name="Uptime", entity_category="diagnostic", device_class="duration",
                unit_of_measurement="s", state_class="total_increasing",
                state_topic=topics.bridge_state, value_template="{{ value_json.uptime_s }}"),
    ]


def camera_configs(topics: Topics, cam: CameraConfig) -> list[Config]:
    """A camera's entities: camera (the snapshot), connectivity, fps, last frame, snapshot button.

    Connectivity and last frame stay available while the camera is offline (they report it);
    the others follow both the bridge's and the camera's availability.
    """
    device = camera_device(topics, cam)
    both = [topics.bridge_availability, topics.camera(cam.id, "availability")]
    bridge_only = [topics.bridge_availability]
    status = topics.camera(cam.id, "status")
    cid = cam.id
    from .detection import discovery_configs as detection_configs

    return [*detection_configs(topics, cam, device, both),
        _entity(topics, "camera", cid, "camera", cid, device, both,
                name=None, topic=topics.camera(cid, "snapshot")),
        _entity(topics, "binary_sensor", cid, "connectivity", f"{cid}_connectivity", device, bridge_only,
                name="Connectivity", device_class="connectivity", entity_category="diagnostic",
                state_topic=topics.camera(cid, "availability"), payload_on=ONLINE,
                payload_off=OFFLINE),
        _entity(topics, "sensor", cid, "fps", f"{cid}_fps", device, both,
                name="Frame rate", entity_category="diagnostic", unit_of_measurement="fps",
                state_class="measurement", icon="mdi:filmstrip", suggested_display_precision=1,
                state_topic=status, value_template="{{ value_json.fps }}"),
        _entity(topics, "sensor", cid, "last_frame", f"{cid}_last_frame", device, bridge_only,
                name="Last frame", entity_category="diagnostic", device_class="timestamp",
                state_topic=status,
                value_template="{{ value_json.last_frame_at if value_json.last_frame_at else 'None' }}"),
        _entity(topics, "button", cid, "snapshot", f"{cid}_snapshot", device, both,
                name="Take snapshot", icon="mdi:camera",
                command_topic=topics.camera(cid, "snapshot/set"), payload_press="PRESS"),
    ]


def camera_of(topics: Topics, payload: dict[str, Any]) -> str | None:
    """The camera id a discovery payload of this bridge belongs to (None for bridge entities)."""
    try:
        ident = payload["device"]["identifiers"][0]
    except (KeyError, IndexError, TypeError):
        return None
    prefix = f"{topics.node_id}_"
    if not isinstance(ident, str) or not ident.startswith(prefix) or ident == f"{prefix}bridge":
        return None
    return ident[len(prefix):]
