"""MediaMTX on MQTT: the recording switch (``{base}/{camera}/record/set`` -> ``record/state``),
per-camera stream URLs and path metrics (``{base}/{camera}/stream``), MediaMTX availability in
the bridge state, and their Home Assistant discovery (a ``switch`` per camera, a bridge
``binary_sensor``). Plugged into :class:`~bridge.mqtt.publisher.MqttPublisher` as an extension.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..mqtt import discovery
from ..mqtt.feature import Feature
from ..mqtt.topics import Topics

if TYPE_CHECKING:
    from ..mqtt.publisher import MqttPublisher
    from .restream import Restream
    from .service import MediamtxService

_LOGGER = logging.getLogger(__name__)

ON, OFF = "ON", "OFF"
#: seconds between re-publishes of a camera's stream topic when only its byte counters changed
BYTES_REPUBLISH = 30.0


class MediamtxMqtt(Feature):
    """Publisher extension for one :class:`MediamtxService`."""

    def __init__(self, service: MediamtxService, publisher: MqttPublisher,
                 restream: Restream | None = None) -> None:
        self._service = service
        self._publisher = publisher
        self._restream = restream
        self.topics: Topics = publisher.topics
        self.subscriptions = [self.topics.record_command_filter]
        self._sent: dict[str, tuple[dict[str, Any], float]] = {}
        self._available: bool | None = None
        service.add_listener(self._on_change)

    # -- extension interface -----------------------------------------------------------------

    def state_fields(self) -> dict[str, Any]:
        """``{"mediamtx": "available" | "unavailable"}`` for ``{base}/bridge/state``."""
        return {"mediamtx": "available" if self._service.available else "unavailable"}

    def discovery_configs(self, cameras: list[CameraConfig], with_bridge: bool) -> list[discovery.Config]:
        """The bridge's MediaMTX ``binary_sensor`` (with ``with_bridge``) and a Record ``switch``
        per camera, as (topic, payload)."""
        t = self.topics
        configs: list[discovery.Config] = []
        if with_bridge:
            configs.append(discovery.entity_config(
                t, "binary_sensor", "bridge", "mediamtx", f"{t.node_id}_mediamtx", discovery.bridge_device(t),
                [t.bridge_availability], name="MediaMTX", device_class="connectivity",
                entity_category="diagnostic", state_topic=t.bridge_state,
                value_template="{{ 'ON' if value_json.mediamtx == 'available' else 'OFF' }}"))
        for cam in cameras:
            configs.append(discovery.entity_config(
                t, "switch", cam.id, "record", f"{cam.id}_record", discovery.camera_device(t, cam),
                [t.bridge_availability], name="Record", icon="mdi:record-rec",
                command_topic=t.camera(cam.id, "record/set"), state_topic=t.camera(cam.id, "record/state"),
                payload_on=ON, payload_off=OFF, state_on=ON, state_off=OFF))
        return configs

    def publish_camera(self, cam_id: str) -> None:
        """Publish a camera's ``record/state`` and ``stream`` (retained)."""
        link = self._publisher.link
        link.publish(self.topics.camera(cam_id, "record/state"),
                     ON if self._service.recording(cam_id) else OFF, retain=True, qos=1)
        self._sent.pop(cam_id, None)
        self._publish_stream(cam_id)

    def publish_all(self) -> None:
        """Publish every camera's topics (on connect and on Home Assistant's birth)."""
        self._sent.clear()
        for cam_id in list(self._service.known_cameras()):
            self.publish_camera(cam_id)

    def on_message(self, topic: str, payload: Any) -> bool:
        """Queue a ``record/set`` command (``ON``/``OFF``); True when the topic was ours."""
        prefix, suffix = f"{self.topics.base}/", "/record/set"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return False
        cam_id = topic[len(prefix):-len(suffix)]
        text = (payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)).strip().upper()
        if text not in (ON, OFF) or not cam_id or "/" in cam_id:
            _LOGGER.warning("mqtt: ignoring %r on %s (expected ON or OFF)", text[:20], topic)
            return True
        try:
            self._service.commands.put_nowait((cam_id, text == ON))
        except Exception:  # a full queue: someone is flooding the topic
            _LOGGER.warning("mqtt: too many recording switches queued, dropping one for %s", cam_id)
        return True

    # -- changes -----------------------------------------------------------------------------

    def _stream_payload(self, cam_id: str) -> dict[str, Any]:
        info = self._service.camera_info(cam_id)
        via = self._restream.via(cam_id) if self._restream is not None else "direct"
        return {"online": info["online"], "readers": info["readers"], "inbound_bytes": info["inbound_bytes"],
                "outbound_bytes": info["outbound_bytes"], "recording": info["recording"], "read_via": via,
                "urls": self._service.stream_urls(cam_id)}

    def _publish_stream(self, cam_id: str) -> None:
        payload = self._stream_payload(cam_id)
        last = self._sent.get(cam_id)
        now = time.monotonic()
        if last is not None:
            quiet = {k: v for k, v in payload.items() if not k.endswith("_bytes")}
            last_quiet = {k: v for k, v in last[0].items() if not k.endswith("_bytes")}
            if payload == last[0] or (quiet == last_quiet and now - last[1] < BYTES_REPUBLISH):
                return
        self._sent[cam_id] = (payload, now)
        self._publisher.link.publish(self.topics.camera(cam_id, "stream"), json.dumps(payload), retain=True, qos=1)

    def _on_change(self) -> None:
        if self._available is not self._service.available:
            self._available = self._service.available
            self._publisher.publish_bridge_state()
        for cam_id in list(self._service.known_cameras()):
            self._publish_stream(cam_id)
            if self._service.record_changed(cam_id):
                self._publisher.link.publish(self.topics.camera(cam_id, "record/state"),
                                             ON if self._service.recording(cam_id) else OFF, retain=True, qos=1)
