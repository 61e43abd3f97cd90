"""MediaMTX on MQTT: the recording switch (``{base}/{camera}/record/set`` -> ``record/state``),
per-camera stream URLs and path metrics (``{base}/{camera}/stream``), MediaMTX availability in
the bridge state, and their Home Assistant discovery (a ``switch`` per camera, a bridge
``binary_sensor``). A publisher feature: reads the bridge through its view, switches recording
through its control, follows ``MediamtxChanged`` / ``RecordingChanged`` events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..core.control import BridgeControl
from ..core.errors import BridgeError
from ..core.events import BridgeEvent, MediamtxChanged, RecordingChanged
from ..core.view import BridgeView
from . import discovery
from .feature import Feature, audit_command, text_of
from .topics import Topics

if TYPE_CHECKING:
    from .publisher import MqttPublisher

_LOGGER = logging.getLogger(__name__)

ON, OFF = "ON", "OFF"
WHAT = "cameras.set_recording"  #: the operation in the audit line
#: seconds between re-publishes of a camera's stream topic when only its byte counters changed
BYTES_REPUBLISH = 30.0


class RecordingMqtt(Feature):
    """Publisher feature for MediaMTX (only with ``mediamtx.enabled``). Commands are applied by
    the task ``mqtt.recording`` (one at a time, from a bounded queue: a flood of commands is
    dropped, never queued without bound)."""

    def __init__(self, view: BridgeView, control: BridgeControl, publisher: MqttPublisher) -> None:
        self._view = view
        self._control = control
        self._publisher = publisher
        self.topics: Topics = publisher.topics
        self.subscriptions = [self.topics.record_command_filter]
        self._sent: dict[str, tuple[dict[str, Any], float]] = {}
        self._available: bool | None = None
        self.commands: asyncio.Queue[tuple[str, bool]] = asyncio.Queue(100)

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"mqtt.recording": self.run()}

    async def run(self) -> None:
        """Apply queued ``record/set`` commands until cancelled (a publisher loop)."""
        while True:
            cam_id, recording = await self.commands.get()
            topic, value = self.topics.camera(cam_id, "record/set"), ON if recording else OFF
            try:
                await self._control.set_recording(cam_id, recording)
            except BridgeError as err:  # an unknown camera: say why, once per command
                _LOGGER.debug("mqtt: recording switch of %s refused: %s", cam_id, err)
                audit_command(topic, WHAT, cam_id, value, err)
            except Exception as err:  # a failed switch must not stop the loop
                _LOGGER.exception("mqtt: recording switch of %s failed", cam_id)
                audit_command(topic, WHAT, cam_id, value, err)
            else:
                audit_command(topic, WHAT, cam_id, value)

    # -- feature interface -------------------------------------------------------------------

    def state_fields(self) -> dict[str, Any]:
        """``{"mediamtx": "available" | "unavailable"}`` for ``{base}/bridge/state``."""
        return {"mediamtx": "available" if self._view.mediamtx_available() else "unavailable"}

    def discovery_configs(self, cameras: list[CameraConfig], with_bridge: bool) -> list[discovery.Config]:
        """The bridge's MediaMTX ``binary_sensor`` (with ``with_bridge``) and a Record ``switch``
        per camera, as (topic, payload)."""
        t = self.topics
        configs: list[discovery.Config] = []
        if with_bridge:
            configs.append(
                discovery.entity_config(
                    t,
                    "binary_sensor",
                    "bridge",
                    "mediamtx",
                    f"{t.node_id}_mediamtx",
                    discovery.bridge_device(t),
                    [t.bridge_availability],
                    name="MediaMTX",
                    device_class="connectivity",
                    entity_category="diagnostic",
                    state_topic=t.bridge_state,
                    value_template="{{ 'ON' if value_json.mediamtx == 'available' else 'OFF' }}",
                )
            )
        for cam in cameras:
            configs.append(
                discovery.entity_config(
                    t,
                    "switch",
                    cam.id,
                    "record",
                    f"{cam.id}_record",
                    discovery.camera_device(t, cam),
                    [t.bridge_availability],
                    name="Record",
                    icon="mdi:record-rec",
                    command_topic=t.camera(cam.id, "record/set"),
                    state_topic=t.camera(cam.id, "record/state"),
                    payload_on=ON,
                    payload_off=OFF,
                    state_on=ON,
                    state_off=OFF,
                )
            )
        return configs

    def publish_camera(self, cam_id: str) -> None:
        """Publish a camera's ``record/state`` and ``stream`` (retained)."""
        link = self._publisher.link
        link.publish(
            self.topics.camera(cam_id, "record/state"), ON if self._view.recording(cam_id) else OFF, retain=True, qos=1
        )
        self._sent.pop(cam_id, None)
        self._publish_stream(cam_id)

    def publish_all(self) -> None:
        """Publish every camera's topics (on connect and on Home Assistant's birth)."""
        self._sent.clear()
        for cam_id in self._view.camera_ids():
            self.publish_camera(cam_id)

    def on_message(self, topic: str, payload: Any) -> bool:
        """Queue a ``record/set`` command (``ON``/``OFF``); True when the topic was ours."""
        prefix, suffix = f"{self.topics.base}/", "/record/set"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return False
        cam_id = topic[len(prefix) : -len(suffix)]
        text = text_of(payload).upper()
        if text not in (ON, OFF) or not cam_id or "/" in cam_id:
            _LOGGER.warning("mqtt: ignoring %r on %s (expected ON or OFF)", text[:20], topic)
            audit_command(topic, WHAT, cam_id, text, "invalid")
            return True
        try:
            self.commands.put_nowait((cam_id, text == ON))
        except Exception:  # a full queue: someone is flooding the topic
            _LOGGER.warning("mqtt: too many recording switches queued, dropping one for %s", cam_id)
            audit_command(topic, WHAT, cam_id, text, "dropped")
        return True

    # -- changes -----------------------------------------------------------------------------

    def _stream_payload(self, cam_id: str) -> dict[str, Any]:
        urls, info = self._view.streams(cam_id)
        assert info is not None  # this feature runs with MediaMTX only
        return {
            "online": info["online"],
            "readers": info["readers"],
            "inbound_bytes": info["inbound_bytes"],
            "outbound_bytes": info["outbound_bytes"],
            "recording": info["recording"],
            "read_via": info["read_via"],
            "urls": urls,
        }

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

    def on_event(self, event: BridgeEvent) -> None:
        """Follow MediaMTX: availability into the bridge state, stream topics, switch states."""
        if isinstance(event, RecordingChanged):
            if event.camera in self._view.camera_ids():
                self._publisher.link.publish(
                    self.topics.camera(event.camera, "record/state"), ON if event.recording else OFF, retain=True, qos=1
                )
        elif isinstance(event, MediamtxChanged):
            available = self._view.mediamtx_available()
            if self._available is not available:
                self._available = available
                self._publisher.publish_bridge_state()
            for cam_id in self._view.camera_ids():
                self._publish_stream(cam_id)
