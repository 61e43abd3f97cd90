"""Detection on MQTT: motion, events, object counts, best snapshots, the detection switch and
its diagnostics, with their Home Assistant discovery entities (topics: docs/mqtt.md).

Per camera with ``detect.enabled``: ``{base}/{camera}/motion`` (``ON``/``OFF``, retained),
``{base}/{camera}/events`` (JSON, not retained, never coalesced), ``{base}/{camera}/{label}``
(count, retained), ``{base}/{camera}/{label}/snapshot`` (JPEG, retained) and
``{base}/{camera}/{label}/snapshot/crop`` (JPEG of the box, retained),
``{base}/{camera}/detect/set`` (command ``ON``/``OFF``), ``{base}/{camera}/detect/state``
(retained), ``{base}/{camera}/detect/stats`` (JSON, retained).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..core.control import BridgeControl
from ..core.errors import NotFound
from ..core.events import BridgeEvent, CameraRemoved, DetectionUpdated, DetectUpdate
from .feature import Feature, audit_command
from .topics import Topics

if TYPE_CHECKING:
    from ..core.view import BridgeView
    from .client import MqttLink

_LOGGER = logging.getLogger(__name__)

ON, OFF = "ON", "OFF"
#: per-camera detection leaves that are retained (cleared when the camera is removed)
RETAINED = ("motion", "detect/state", "detect/stats")


def publish_update(link: MqttLink, topics: Topics, update: DetectUpdate) -> None:
    """Publish what ``update`` changed (counts and snapshots before events: a notification
    triggered by a ``new`` event finds the fresh picture already there)."""
    cam = update.camera
    if update.enabled is not None:
        link.publish(topics.camera(cam, "detect/state"), ON if update.enabled else OFF, retain=True, qos=1)
    if update.motion is not None:
        link.publish(topics.camera(cam, "motion"), ON if update.motion else OFF, retain=True, qos=1)
    for label, count in (update.counts or {}).items():
        link.publish(topics.camera(cam, label), str(count), retain=True, qos=1)
    for label, jpeg in update.snapshots.items():
        link.publish(topics.camera(cam, f"{label}/snapshot"), jpeg, retain=True, qos=1)
    for label, jpeg in update.crops.items():
        link.publish(topics.camera(cam, f"{label}/snapshot/crop"), jpeg, retain=True, qos=1)
    for event in update.events:
        link.publish(topics.camera(cam, "events"), json.dumps(event), qos=1, coalesce=False)
    if update.stats is not None:
        link.publish(topics.camera(cam, "detect/stats"), json.dumps(update.stats), retain=True)


def publish_state(link: MqttLink, topics: Topics, view: BridgeView, cam: str) -> None:
    """Re-publish a camera's retained detection state from the view (on connect, on Home
    Assistant's birth, when the camera is announced); nothing for a camera without detection."""
    try:
        state = view.detection(cam)
    except NotFound:
        return
    link.publish(topics.camera(cam, "detect/state"), ON if state["enabled"] else OFF, retain=True, qos=1)
    link.publish(topics.camera(cam, "motion"), ON if state["motion"] else OFF, retain=True, qos=1)
    for label, count in state["counts"].items():
        link.publish(topics.camera(cam, label), str(count), retain=True, qos=1)
    for label in state["snapshots"]:
        jpeg = view.best_snapshot(cam, label)
        if jpeg is not None:
            link.publish(topics.camera(cam, f"{label}/snapshot"), jpeg, retain=True, qos=1)
        crop = view.best_snapshot(cam, label, crop=True)
        if crop is not None:
            link.publish(topics.camera(cam, f"{label}/snapshot/crop"), crop, retain=True, qos=1)
    link.publish(topics.camera(cam, "detect/stats"), json.dumps(state["stats"]), retain=True)


def clear(link: MqttLink, topics: Topics, cam: CameraConfig) -> None:
    """Clear a removed camera's retained detection topics."""
    leaves = [
        *RETAINED,
        *cam.detect.objects,
        *(f"{label}/snapshot" for label in cam.detect.objects),
        *(f"{label}/snapshot/crop" for label in cam.detect.objects),
    ]
    for leaf in leaves:
        link.publish(topics.camera(cam.id, leaf), b"", retain=True, qos=1)


def stale_topics(topics: Topics, cam_id: str, payload: dict[str, Any]) -> list[str]:
    """Retained detection state topics named by a removed camera's stale discovery config
    (its motion, counts per label, best snapshots, switch state, stats), to clear them."""
    prefix = f"{topics.base}/{cam_id}/"
    found = [payload.get(key) for key in ("state_topic", "image_topic")]
    return [
        t
        for t in found
        if isinstance(t, str)
        and t.startswith(prefix)
        and t != topics.camera(cam_id, "events")
        and t[len(prefix) :] not in ("availability", "status", "snapshot")
    ]


def command(topics: Topics, topic: str, payload: Any, control: BridgeControl) -> bool:
    """Handle ``{base}/{camera}/detect/set`` (``ON``/``OFF``) with ``control.set_detection``;
    False for other topics."""
    prefix, suffix = f"{topics.base}/", "/detect/set"
    if not topic.startswith(prefix) or not topic.endswith(suffix):
        return False
    cam_id = topic[len(prefix) : -len(suffix)]
    text = payload.decode(errors="replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
    value = text.strip().upper()
    if value not in (ON, OFF):
        _LOGGER.warning("mqtt: %s expects ON or OFF, got %r", topic, text[:20])
        audit_command(topic, "cameras.set_detection", cam_id, value, "invalid")
        return True
    try:
        control.set_detection(cam_id, value == ON)
    except NotFound as err:
        _LOGGER.debug("mqtt: detection command ignored: %s", err)
        audit_command(topic, "cameras.set_detection", cam_id, value, err)
    else:
        audit_command(topic, "cameras.set_detection", cam_id, value)
    return True


def discovery_configs(
    topics: Topics, cam: CameraConfig, device: dict[str, Any], availability: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant entities of a camera with detection: motion, detection switch, frame rate
    and inference time diagnostics, and per tracked label occupancy, count, best snapshot and
    its crop (``image``) and events (``event``, types ``new``/``end``)."""
    from .discovery import entity_maker  # discovery imports this module

    if not cam.detect.enabled:
        return []
    cid = cam.id
    entity = entity_maker(topics, cid, device, availability)
    stats = topics.camera(cid, "detect/stats")
    configs = [
        entity(
            "binary_sensor",
            "motion",
            name="Motion",
            device_class="motion",
            state_topic=topics.camera(cid, "motion"),
            payload_on=ON,
            payload_off=OFF,
        ),
        entity(
            "switch",
            "detect",
            name="Detection",
            icon="mdi:motion-sensor",
            command_topic=topics.camera(cid, "detect/set"),
            state_topic=topics.camera(cid, "detect/state"),
            payload_on=ON,
            payload_off=OFF,
        ),
        entity(
            "sensor",
            "detect_fps",
            name="Detection rate",
            entity_category="diagnostic",
            unit_of_measurement="fps",
            state_class="measurement",
            suggested_display_precision=1,
            state_topic=stats,
            value_template="{{ value_json.fps }}",
        ),
        entity(
            "sensor",
            "inference_time",
            name="Inference time",
            entity_category="diagnostic",
            unit_of_measurement="ms",
            device_class="duration",
            state_class="measurement",
            suggested_display_precision=0,
            state_topic=stats,
            value_template="{{ value_json.inference_ms }}",
        ),
    ]
    for label in cam.detect.objects:
        title = label.replace("_", " ").capitalize()
        count = topics.camera(cid, label)
        configs += [
            entity(
                "binary_sensor",
                f"{label}_occupancy",
                name=f"{title} occupancy",
                device_class="occupancy",
                state_topic=count,
                value_template="{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
                payload_on=ON,
                payload_off=OFF,
            ),
            entity(
                "sensor",
                f"{label}_count",
                name=f"{title} count",
                state_class="measurement",
                icon="mdi:counter",
                state_topic=count,
            ),
            entity(
                "image",
                f"{label}_snapshot",
                name=f"{title} snapshot",
                image_topic=topics.camera(cid, f"{label}/snapshot"),
                content_type="image/jpeg",
            ),
            entity(
                "image",
                f"{label}_snapshot_crop",
                name=f"{title} snapshot (crop)",
                image_topic=topics.camera(cid, f"{label}/snapshot/crop"),
                content_type="image/jpeg",
            ),
            entity(
                "event",
                f"{label}_event",
                name=f"{title} detected",
                event_types=["new", "end"],
                state_topic=topics.camera(cid, "events"),
                value_template=(
                    "{% if value_json.label == '" + label + "' and value_json.type in ['new', 'end'] %}"
                    '{"event_type": "{{ value_json.type }}", "id": "{{ value_json.id }}", '
                    '"score": {{ value_json.top_score }}}{% endif %}'
                ),
            ),
        ]
    return configs


class DetectionMqtt(Feature):
    """The publisher's detection feature: publishes each ``DetectionUpdated`` event, re-publishes
    a camera's retained detection state from the view, clears a removed camera's topics (also
    those named by a stale discovery config), and turns ``detect/set`` into
    ``BridgeControl.set_detection``. Its discovery entities are among the camera's
    (``discovery.camera_configs``)."""

    def __init__(self, view: BridgeView, control: BridgeControl | None, link: MqttLink, topics: Topics) -> None:
        self._view = view
        self._control = control
        self._link = link
        self._topics = topics
        self.subscriptions = [topics.detect_command_filter]

    def publish_camera(self, cam_id: str) -> None:
        publish_state(self._link, self._topics, self._view, cam_id)

    def publish_all(self) -> None:
        for cam_id in self._view.camera_ids():
            self.publish_camera(cam_id)

    def on_event(self, event: BridgeEvent) -> None:
        if isinstance(event, DetectionUpdated):
            publish_update(self._link, self._topics, event.update)
        elif isinstance(event, CameraRemoved):
            clear(self._link, self._topics, event.config)

    def on_message(self, topic: str, payload: bytes | str) -> bool:
        if self._control is None:
            return False
        return command(self._topics, topic, payload, self._control)

    def clear_stale(self, payload: dict[str, Any]) -> None:
        from .discovery import camera_of  # discovery imports this module

        cam_id = camera_of(self._topics, payload)
        if cam_id and cam_id not in self._view.camera_ids():
            for stale in stale_topics(self._topics, cam_id, payload):
                self._link.publish(stale, b"", retain=True, qos=1)
