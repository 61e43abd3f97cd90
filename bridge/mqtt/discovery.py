"""Home Assistant MQTT discovery payloads (per-entity topics, understood by HA 2024.3+).

Reference: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery. One HA device per
camera, linked to the bridge device with ``via_device``; every payload carries an ``origin``
block, a stable ``unique_id`` (``{node_id}_{camera}_{key}``, ``{node_id}_bridge_{key}`` for the
bridge's own entities) and both ``object_id`` (HA before
2025.10) and ``default_entity_id`` (HA 2025.10+).
"""

from __future__ import annotations

from collections.abc import Callable
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
_MODELS = {
    "rtsp": "RTSP camera",
    "http": "HTTP camera",
    "usb": "USB camera",
    "file": "File source",
    "lavfi": "Synthetic source",
}

Config = tuple[str, dict[str, Any]]  # (discovery topic, payload)


def timestamp_template(field: str) -> str:
    """The value template of a timestamp sensor reading ``field`` (ISO 8601 or null) of its
    state payload. While the field is null the template fails on purpose (an unknown filter in
    the untaken branch compiles; taken, it raises a Jinja runtime error): HA's MQTT sensor then
    keeps its current state (unknown until a first value) without a log line, on every HA
    version. The string ``None`` instead is "unknown" only on newer HA; HA 2024.3 logs it as
    "Invalid state message" for a timestamp."""
    return (
        f"{{% if value_json.{field} %}}{{{{ value_json.{field} }}}}"
        "{% else %}{{ value_json | null_keeps_the_state }}{% endif %}"
    )


def bridge_device(topics: Topics) -> dict[str, Any]:
    """The bridge's own HA device."""
    return {
        "identifiers": [f"{topics.node_id}_{topics.bridge_key}"],
        "name": "Camera bridge" if topics.member is None else f"Camera bridge {topics.member}",
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
        "via_device": f"{topics.node_id}_{topics.bridge_key}",  # its current owner in a cluster
    }


def entity_config(
    topics: Topics,
    component: str,
    owner: str,
    key: str,
    object_id: str,
    device: dict[str, Any],
    availability: list[str],
    **fields: Any,
) -> Config:
    """One entity's discovery message: ``(config topic, payload)`` for HA ``component``
    (``sensor``, ``switch``, ...). ``owner`` is the camera id or ``bridge`` (a reserved camera
    id); the unique id is ``{node_id}_{owner}_{key}``, the entity id ``{component}.{object_id}``;
    ``device`` is the device block; with ``availability`` topics the entity is available while
    all of them say ``online``; ``fields`` are the component's own keys (``state_topic``, ...).
    Used by every part that adds entities (detection, MediaMTX)."""
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
            {"topic": t, "payload_available": ONLINE, "payload_not_available": OFFLINE} for t in availability
        ]
        payload["availability_mode"] = "all"
    return topics.discovery(component, object_id), payload


def entity_maker(
    topics: Topics, owner: str, device: dict[str, Any], availability: list[str], prefix: str | None = None
) -> Callable[..., Config]:
    """``entity(component, key, availability=..., **fields)``: :func:`entity_config` of one
    owner's entities (a camera, the bridge), with its ``device``, the ``availability`` topics
    unless the entity names its own, and the object id ``{prefix}_{key}`` (``prefix``: the owner
    unless given)."""
    head = owner if prefix is None else prefix

    def entity(component: str, key: str, *, availability: list[str] = availability, **fields: Any) -> Config:
        return entity_config(topics, component, owner, key, f"{head}_{key}", device, availability, **fields)

    return entity


def bridge_configs(topics: Topics) -> list[Config]:
    """Bridge device entities: connectivity, version, uptime."""
    device = bridge_device(topics)
    avail = [topics.bridge_availability]
    node = topics.node_id if topics.member is None else f"{topics.node_id}_{topics.member}"
    entity = entity_maker(topics, topics.bridge_key, device, avail, prefix=node)
    return [
        entity(
            "binary_sensor",
            "connectivity",
            availability=[],
            name="Connectivity",
            device_class="connectivity",
            entity_category="diagnostic",
            state_topic=topics.bridge_availability,
            payload_on=ONLINE,
            payload_off=OFFLINE,
        ),
        entity(
            "sensor",
            "version",
            name="Version",
            entity_category="diagnostic",
            icon="mdi:tag",
            state_topic=topics.bridge_state,
            value_template="{{ value_json.version }}",
        ),
        entity(
            "sensor",
            "uptime",
            name="Uptime",
            entity_category="diagnostic",
            device_class="duration",
            unit_of_measurement="s",
            state_class="total_increasing",
            state_topic=topics.bridge_state,
            value_template="{{ value_json.uptime_s }}",
        ),
    ]


def camera_configs(topics: Topics, cam: CameraConfig) -> list[Config]:
    """A camera's entities: camera (the snapshot), connectivity, fps, last frame, snapshot button,
    on/off switch.

    Connectivity and last frame stay available while the camera is offline (they report it);
    the others follow both the bridge's and the camera's availability.
    """
    device = camera_device(topics, cam)
    both = [topics.bridge_availability, topics.camera(cam.id, "availability")]
    bridge_only = [topics.bridge_availability]
    status = topics.camera(cam.id, "status")
    cid = cam.id
    entity = entity_maker(topics, cid, device, both)
    from .camera_switch import discovery_config as switch_config
    from .detection import discovery_configs as detection_configs

    return [
        *detection_configs(topics, cam, device, both),
        switch_config(topics, cam, device),
        entity_config(
            topics, "camera", cid, "camera", cid, device, both, name=None, topic=topics.camera(cid, "snapshot")
        ),
        entity(
            "binary_sensor",
            "connectivity",
            availability=bridge_only,
            name="Connectivity",
            device_class="connectivity",
            entity_category="diagnostic",
            state_topic=topics.camera(cid, "availability"),
            payload_on=ONLINE,
            payload_off=OFFLINE,
        ),
        entity(
            "sensor",
            "fps",
            name="Frame rate",
            entity_category="diagnostic",
            unit_of_measurement="fps",
            state_class="measurement",
            icon="mdi:filmstrip",
            suggested_display_precision=1,
            state_topic=status,
            value_template="{{ value_json.fps }}",
        ),
        entity(
            "sensor",
            "last_frame",
            availability=bridge_only,
            name="Last frame",
            entity_category="diagnostic",
            device_class="timestamp",
            state_topic=status,
            value_template=timestamp_template("last_frame_at"),
        ),
        entity(
            "button",
            "snapshot",
            name="Take snapshot",
            icon="mdi:camera",
            command_topic=topics.camera(cid, "snapshot/set"),
            payload_press="PRESS",
        ),
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
    if ident.startswith(f"{prefix}timelapse."):  # a timelapse device (see timelapse_of)
        return None
    return ident[len(prefix) :]


TIMELAPSE_STATES = ("created", "running", "paused", "stopped", "completed", "degraded", "error")


def timelapse_device(topics: Topics, tl_id: str, name: str, camera_id: str) -> dict[str, Any]:
    """A timelapse's HA device, linked to its camera's device."""
    return {
        "identifiers": [f"{topics.node_id}_timelapse.{tl_id}"],
        "name": name,
        "manufacturer": MANUFACTURER,
        "model": "Timelapse",
        "via_device": f"{topics.node_id}_{camera_id}",
    }


def timelapse_of(topics: Topics, payload: dict[str, Any]) -> str | None:
    """The timelapse id a discovery payload of this bridge belongs to, else None."""
    try:
        ident = payload["device"]["identifiers"][0]
    except (KeyError, IndexError, TypeError):
        return None
    prefix = f"{topics.node_id}_timelapse."
    if not isinstance(ident, str) or not ident.startswith(prefix):
        return None
    return ident[len(prefix) :] or None


def timelapse_configs(topics: Topics, tl_id: str, name: str, camera_id: str) -> list[Config]:
    """A timelapse's entities: state, frame count, last capture, render progress (sensors), the
    latest frame (image), running (switch), render now (button), problem (binary sensor)."""
    device = timelapse_device(topics, tl_id, name, camera_id)
    avail = [topics.bridge_availability]
    state = topics.timelapse(tl_id, "state")
    command = topics.timelapse(tl_id, "set")
    owner = f"timelapse.{tl_id}"
    oid = f"timelapse_{tl_id}"
    running = "{{ 'ON' if value_json.state in ('running', 'degraded', 'error') else 'OFF' }}"
    problem = "{{ 'ON' if value_json.state in ('degraded', 'error') else 'OFF' }}"
    return [
        entity_config(
            topics,
            "sensor",
            owner,
            "state",
            f"{oid}_state",
            device,
            avail,
            name="State",
            icon="mdi:timelapse",
            device_class="enum",
            options=list(TIMELAPSE_STATES),
            state_topic=state,
            value_template="{{ value_json.state }}",
            json_attributes_topic=state,
            json_attributes_template="{{ {'reason': value_json.reason} | tojson }}",
        ),
        entity_config(
            topics,
            "sensor",
            owner,
            "frames",
            f"{oid}_frames",
            device,
            avail,
            name="Frames",
            icon="mdi:image-multiple",
            unit_of_measurement="frames",
            state_class="measurement",
            state_topic=state,
            value_template="{{ value_json.frames }}",
        ),
        entity_config(
            topics,
            "sensor",
            owner,
            "last_capture",
            f"{oid}_last_capture",
            device,
            avail,
            name="Last capture",
            device_class="timestamp",
            state_topic=state,
            value_template=timestamp_template("last_capture_at"),
        ),
        entity_config(
            topics,
            "sensor",
            owner,
            "render_progress",
            f"{oid}_render_progress",
            device,
            avail,
            name="Render progress",
            icon="mdi:movie-open-cog",
            unit_of_measurement="%",
            state_class="measurement",
            state_topic=topics.timelapse(tl_id, "render"),
            value_template="{{ value_json.percent }}",
            json_attributes_topic=topics.timelapse(tl_id, "render"),
        ),
        entity_config(
            topics,
            "image",
            owner,
            "image",
            f"{oid}_image",
            device,
            avail,
            name="Latest frame",
            image_topic=topics.timelapse(tl_id, "image"),
            content_type="image/jpeg",
        ),
        entity_config(
            topics,
            "switch",
            owner,
            "running",
            f"{oid}_running",
            device,
            avail,
            name="Running",
            icon="mdi:play-pause",
            command_topic=command,
            payload_on="ON",
            payload_off="OFF",
            state_topic=state,
            value_template=running,
            state_on="ON",
            state_off="OFF",
        ),
        entity_config(
            topics,
            "button",
            owner,
            "render",
            f"{oid}_render",
            device,
            avail,
            name="Render now",
            icon="mdi:movie-roll",
            command_topic=command,
            payload_press="render",
        ),
        entity_config(
            topics,
            "binary_sensor",
            owner,
            "problem",
            f"{oid}_problem",
            device,
            avail,
            name="Problem",
            device_class="problem",
            state_topic=state,
            value_template=problem,
            payload_on="ON",
            payload_off="OFF",
            json_attributes_topic=state,
            json_attributes_template="{{ {'reason': value_json.reason} | tojson }}",
        ),
    ]
