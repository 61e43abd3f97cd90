"""Timelapses on MQTT: state, latest frame and render progress topics, Home Assistant discovery
(a device per timelapse, linked to its camera's device), and the ``{base}/timelapse/{id}/set``
commands. Topics and payloads: docs/mqtt.md."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from ..config import MqttConfig
from . import discovery
from .client import MqttLink
from .topics import TIMELAPSE_RETAINED, Topics

if TYPE_CHECKING:
    from ..timelapse.manager import TimelapseManager

_LOGGER = logging.getLogger(__name__)

#: command payloads (case-insensitive) -> manager action; ON/OFF are the HA switch's
COMMANDS = {"start": "start", "pause": "pause", "resume": "resume", "stop": "stop",
            "render": "render", "cancel": "cancel", "on": "on", "off": "pause"}


class TimelapseMqtt:
    """Publishes a :class:`TimelapseManager`'s timelapses through ``link`` and carries out
    their MQTT commands (retained commands are ignored by the publisher before they get here)."""

    def __init__(self, link: MqttLink, topics: Topics, config: MqttConfig,
                 manager: TimelapseManager) -> None:
        self._link = link
        self._topics = topics
        self._cfg = config
        self._manager = manager
        self._tasks: set[asyncio.Task[None]] = set()

    def discovery_configs(self) -> list[discovery.Config]:
        """Discovery configs of every timelapse (none when discovery is off)."""
        if not self._cfg.discovery:
            return []
        configs: list[discovery.Config] = []
        for rt in list(self._manager.timelapses.values()):
            configs += discovery.timelapse_configs(self._topics, rt.id, rt.spec.display_name, rt.spec.camera)
        return configs

    def publish_all(self) -> None:
        """Discovery and state of every timelapse (on connect, HA birth, attach)."""
        for topic, payload in self.discovery_configs():
            self._link.publish(topic, json.dumps(payload), retain=True, qos=1)
        for rt in list(self._manager.timelapses.values()):
            self._publish_state(rt.status())
            if rt.render is not None:
                self._link.publish(self._topics.timelapse(rt.id, "render"),
                                   json.dumps({"timelapse": rt.id, **rt.render}), retain=True, qos=1)

    def _publish_state(self, status: dict[str, Any]) -> None:
        self._link.publish(self._topics.timelapse(status["id"], "state"), json.dumps(status),
                           retain=True, qos=1)

    def on_event(self, type_: str, data: dict[str, Any]) -> None:
        """Publish what a manager event changes."""
        if type_ == "timelapse.status":
            self._publish_state(data)
        elif type_ == "timelapse.render":
            self._link.publish(self._topics.timelapse(data["timelapse"], "render"), json.dumps(data),
                               retain=True, qos=1)
        elif type_ in ("timelapse.added", "timelapse.updated"):
            rt = self._manager.timelapses.get(data["timelapse"])
            if rt is not None and self._cfg.discovery:
                for topic, payload in discovery.timelapse_configs(self._topics, rt.id, rt.spec.display_name,
                                                                  rt.spec.camera):
                    self._link.publish(topic, json.dumps(payload), retain=True, qos=1)
        elif type_ == "timelapse.removed":
            self._clear(data["timelapse"], data["camera"])

    def on_image(self, tl_id: str, jpeg: bytes) -> None:
        self._link.publish(self._topics.timelapse(tl_id, "image"), jpeg, retain=True)

    def _clear(self, tl_id: str, camera_id: str) -> None:
        if self._cfg.discovery:
            for topic, _payload in discovery.timelapse_configs(self._topics, tl_id, tl_id, camera_id):
                self._link.publish(topic, b"", retain=True, qos=1)
        for leaf in TIMELAPSE_RETAINED:
            self._link.publish(self._topics.timelapse(tl_id, leaf), b"", retain=True, qos=1)

    def clear_stale(self, payload: dict[str, Any]) -> None:
        """A stale discovery config of a timelapse no longer defined: clear its state topics."""
        tl_id = discovery.timelapse_of(self._topics, payload)
        if tl_id and tl_id not in self._manager.timelapses:
            for leaf in TIMELAPSE_RETAINED:
                self._link.publish(self._topics.timelapse(tl_id, leaf), b"", retain=True, qos=1)

    def on_command(self, topic: str, payload: Any) -> None:
        """``start|pause|resume|stop|render|cancel`` (or the switch's ``ON``/``OFF``) on
        ``{base}/timelapse/{id}/set``."""
        tl_id = self._topics.command_timelapse(topic)
        text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
        action = COMMANDS.get(text.strip().lower())
        if tl_id is None or action is None:
            _LOGGER.warning("mqtt: ignoring timelapse command %r on %s (expected one of %s)",
                            text[:40], topic, ", ".join(sorted({c for c in COMMANDS if c.isalpha()})))
            return
        task = asyncio.get_running_loop().create_task(self._act(tl_id, action),
                                                      name=f"timelapse[{tl_id}].command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, tl_id: str, action: str) -> None:
        from ..timelapse.state import State, TimelapseError

        try:
            if action == "on":
                lifecycle = self._manager.get(tl_id).lifecycle
                action = "resume" if lifecycle is State.PAUSED else "start"
            await self._manager.act(tl_id, action)
        except TimelapseError as err:
            _LOGGER.warning("mqtt: timelapse command %s refused: %s", action, err)
