"""Timelapses on MQTT, as a publisher feature (see ``MqttPublisher.add_feature``): state,
latest frame and render progress topics, Home Assistant discovery (a device per timelapse, linked
to its camera's device), and the ``{base}/timelapse/{id}/set`` commands. Topics and payloads:
docs/mqtt.md."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..core.control import BridgeControl
from ..core.errors import BridgeError
from ..core.events import BridgeEvent, TimelapseEvent, TimelapseImage
from . import discovery
from .feature import Feature, audit_command
from .topics import TIMELAPSE_RETAINED

if TYPE_CHECKING:
    from ..core.view import BridgeView
    from .publisher import MqttPublisher

_LOGGER = logging.getLogger(__name__)

#: command payloads (case-insensitive) -> manager action; ON/OFF are the HA switch's
COMMANDS = {
    "start": "start",
    "pause": "pause",
    "resume": "resume",
    "stop": "stop",
    "render": "render",
    "cancel": "cancel",
    "on": "on",
    "off": "pause",
}
WHAT = "timelapses.action"  #: the operation in the audit line


class TimelapseMqtt(Feature):
    """Publisher feature for the timelapses, read through the view (nothing before they start:
    they start after the publisher; :meth:`publish_all` once they run) and commanded through the
    control. Retained commands are ignored by the publisher before they get here."""

    def __init__(self, publisher: MqttPublisher, view: BridgeView, control: BridgeControl, *, discovery: bool) -> None:
        self._view = view
        self._control = control
        self._link = publisher.link
        self._topics = publisher.topics
        self._configured = discovery  #: mqtt.discovery
        self._publisher = publisher
        self.subscriptions = [self._topics.timelapse_command_filter]

    @property
    def _discovery(self) -> bool:
        """Whether discovery is published now: ``mqtt.discovery``, unless switched off at run
        time (``PUT /api/bridge/discovery``)."""
        return self._configured and self._publisher.discovery_enabled

    # -- feature interface -----------------------------------------------------------------

    def state_fields(self) -> dict[str, Any]:
        return {}

    def publish_camera(self, cam_id: str) -> None:
        """Alone, nothing per camera: timelapses are published on their own events. In cluster
        mode a camera taken over from another bridge: the state (and last render) of its
        timelapses, now this bridge's to publish."""
        if self._publisher.may_publish is None:
            return
        for _name, state in self._view.timelapse_states() or ():
            if state["camera"] != cam_id:
                continue
            self._publish_state(state)
            if state["render"] is not None and self._owned(cam_id):
                self._link.publish(
                    self._topics.timelapse(state["id"], "render"),
                    json.dumps({"timelapse": state["id"], **state["render"]}),
                    retain=True,
                    qos=1,
                    guard=self._guard(cam_id),
                )

    def discovery_configs(
        self, cameras: list[CameraConfig] | None = None, with_bridge: bool = True
    ) -> list[discovery.Config]:
        """Discovery configs of every timelapse, in the full set only (``with_bridge``); none when
        discovery is off."""
        states = self._view.timelapse_states()
        if not self._discovery or not with_bridge or states is None:
            return []
        configs: list[discovery.Config] = []
        for name, state in states:
            configs += discovery.timelapse_configs(self._topics, state["id"], name, state["camera"])
        return configs

    def publish_all(self) -> None:
        """Discovery and state of every timelapse (on connect, HA birth, once they started)."""
        states = self._view.timelapse_states()
        if states is None:
            return
        for topic, payload in self.discovery_configs():
            self._link.publish(topic, json.dumps(payload), retain=True, qos=1)
        for _name, state in states:
            self._publish_state(state)
            if state["render"] is not None and self._owned(state["camera"]):
                self._link.publish(
                    self._topics.timelapse(state["id"], "render"),
                    json.dumps({"timelapse": state["id"], **state["render"]}),
                    retain=True,
                    qos=1,
                )

    def _camera_of(self, tl_id: str) -> str | None:
        for _name, state in self._view.timelapse_states() or ():
            if state["id"] == tl_id:
                return str(state["camera"])
        return None

    def _owned(self, camera: str | None) -> bool:
        """Cluster mode: whether this bridge runs the timelapse's camera now (its lease valid):
        only that bridge publishes the timelapse's state, render and image, and acts on its
        commands (the others follow the shared rows). Always true alone."""
        may = self._publisher.may_publish
        return may is None or camera is None or may(camera)

    def _guard(self, camera: str | None) -> Any:
        may = self._publisher.may_publish
        return None if may is None or camera is None else (lambda: may(camera))

    def _publish_state(self, status: dict[str, Any]) -> None:
        camera = status.get("camera")
        if not self._owned(camera):
            return
        self._link.publish(
            self._topics.timelapse(status["id"], "state"),
            json.dumps(status),
            retain=True,
            qos=1,
            guard=self._guard(camera),
        )

    def on_event(self, event: BridgeEvent) -> None:
        """Publish what a timelapse event changes (state, render progress, discovery, image)."""
        if isinstance(event, TimelapseEvent):
            self._on_timelapse(event.wire_type, dict(event.payload))
        elif isinstance(event, TimelapseImage):
            self.on_image(event.timelapse, event.jpeg)

    def _on_timelapse(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == "timelapse.status":
            self._publish_state(data)
        elif type_ == "timelapse.render":
            camera = self._camera_of(data["timelapse"])
            if self._owned(camera):
                self._link.publish(
                    self._topics.timelapse(data["timelapse"], "render"),
                    json.dumps(data),
                    retain=True,
                    qos=1,
                    guard=self._guard(camera),
                )
        elif type_ in ("timelapse.added", "timelapse.updated"):
            found = [
                (name, state) for name, state in self._view.timelapse_states() or () if state["id"] == data["timelapse"]
            ]
            if found and self._discovery:
                name, state = found[0]
                for topic, payload in discovery.timelapse_configs(self._topics, state["id"], name, state["camera"]):
                    self._link.publish(topic, json.dumps(payload), retain=True, qos=1)
        elif type_ == "timelapse.removed":
            self._clear(data["timelapse"], data["camera"])

    def on_image(self, tl_id: str, jpeg: bytes) -> None:
        camera = self._camera_of(tl_id)
        if self._owned(camera):
            self._link.publish(self._topics.timelapse(tl_id, "image"), jpeg, retain=True, guard=self._guard(camera))

    def _clear(self, tl_id: str, camera_id: str) -> None:
        if self._discovery:
            for topic, _payload in discovery.timelapse_configs(self._topics, tl_id, tl_id, camera_id):
                self._link.publish(topic, b"", retain=True, qos=1)
        for leaf in TIMELAPSE_RETAINED:
            self._link.publish(self._topics.timelapse(tl_id, leaf), b"", retain=True, qos=1)

    def clear_stale(self, payload: dict[str, Any]) -> None:
        """A stale discovery config of a timelapse no longer defined: clear its state topics."""
        tl_id = discovery.timelapse_of(self._topics, payload)
        states = self._view.timelapse_states()
        if tl_id and states is not None and tl_id not in {state["id"] for _name, state in states}:
            for leaf in TIMELAPSE_RETAINED:
                self._link.publish(self._topics.timelapse(tl_id, leaf), b"", retain=True, qos=1)

    def on_message(self, topic: str, payload: Any) -> bool:
        """``start|pause|resume|stop|render|cancel`` (or the switch's ``ON``/``OFF``) on
        ``{base}/timelapse/{id}/set``; True when the topic is such a command."""
        tl_id = self._topics.command_timelapse(topic)
        if tl_id is None:
            return False
        if self._view.timelapse_states() is None:
            audit_command(topic, WHAT, None, None, "not_running", timelapse=tl_id)
        elif self._owned(self._camera_of(tl_id)):
            self._command(tl_id, topic, payload)
        # else (cluster mode): the bridge running its camera acts on it (and audits it)
        return True

    def _command(self, tl_id: str, topic: str, payload: Any) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
        action = COMMANDS.get(text.strip().lower())
        if action is None:
            _LOGGER.warning(
                "mqtt: ignoring timelapse command %r on %s (expected one of %s)",
                text[:40],
                topic,
                ", ".join(sorted({c for c in COMMANDS if c.isalpha()})),
            )
            audit_command(topic, WHAT, None, text.strip(), "invalid", timelapse=tl_id)
            return
        self._publisher.run_command(self._act(topic, tl_id, action), f"mqtt.timelapse[{tl_id}].command")

    async def _act(self, topic: str, tl_id: str, action: str) -> None:
        try:
            await self._control.timelapse_action(tl_id, action)
        except BridgeError as err:
            _LOGGER.warning("mqtt: timelapse command %s refused: %s", action, err)
            audit_command(topic, WHAT, None, action, err, timelapse=tl_id)
        else:
            audit_command(topic, WHAT, None, action, timelapse=tl_id)
