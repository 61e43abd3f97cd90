"""The cameras' on/off switch on MQTT, as a publisher feature (see
``MqttPublisher.add_feature``): the command ``{base}/{camera}/enabled/set`` (``ON``/``OFF``),
the retained state ``{base}/{camera}/enabled/state`` and a Home Assistant ``switch`` per camera
(available while the bridge is, so a camera that is off can be switched on again). Retained
commands are ignored by the publisher before they get here. Topics and payloads: docs/mqtt.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..core.errors import BridgeError
from . import discovery
from .feature import Feature, audit_command

if TYPE_CHECKING:
    from ..core.control import BridgeControl
    from ..core.view import BridgeView
    from .client import MqttLink
    from .topics import Topics

_LOGGER = logging.getLogger(__name__)

ON, OFF = "ON", "OFF"
WHAT = "cameras.set_enabled"  #: the operation in the audit line


def discovery_config(topics: Topics, cam: CameraConfig, device: dict[str, Any]) -> discovery.Config:
    """The camera's on/off ``switch`` (available while the bridge is: a camera that is off is
    ``offline``, and must still be switchable on)."""
    return discovery.entity_config(
        topics,
        "switch",
        cam.id,
        "enabled",
        f"{cam.id}_enabled",
        device,
        [topics.bridge_availability],
        name="Camera",
        icon="mdi:cctv",
        command_topic=topics.camera(cam.id, "enabled/set"),
        state_topic=topics.camera(cam.id, "enabled/state"),
        payload_on=ON,
        payload_off=OFF,
    )


class CameraSwitchMqtt(Feature):
    """Publisher feature for ``BridgeControl.set_enabled``; commands run as tasks
    ``mqtt.camera_switch[<camera>]`` (a switch stops or starts a camera: not on the message
    loop)."""

    def __init__(
        self,
        view: BridgeView,
        control: BridgeControl,
        link: MqttLink,
        topics: Topics,
        run_command: Callable[[Coroutine[Any, Any, None], str], None],
    ) -> None:
        self._view = view
        self._control = control
        self._link = link
        self._topics = topics
        self._run_command = run_command  #: the publisher's: a task in its group
        self.subscriptions = [self._topics.camera("+", "enabled/set")]

    # -- feature interface -----------------------------------------------------------------

    def state_fields(self) -> dict[str, Any]:
        return {}

    def discovery_configs(
        self, cameras: list[CameraConfig] | None = None, with_bridge: bool = True
    ) -> list[discovery.Config]:
        """None of its own: the switch is one of ``discovery.camera_configs``."""
        return []

    def publish_camera(self, cam_id: str) -> None:
        """Publish a camera's retained switch state."""
        self._link.publish(
            self._topics.camera(cam_id, "enabled/state"), ON if self._view.enabled(cam_id) else OFF, retain=True, qos=1
        )

    def publish_all(self) -> None:
        for cam_id in self._view.camera_ids():
            self.publish_camera(cam_id)

    def on_message(self, topic: str, payload: Any) -> bool:
        """Handle ``{base}/{camera}/enabled/set``; False for other topics."""
        prefix, suffix = f"{self._topics.base}/", "/enabled/set"
        if not topic.startswith(prefix) or not topic.endswith(suffix):
            return False
        cam_id = topic[len(prefix) : -len(suffix)]
        text = payload.decode(errors="replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
        value = text.strip().upper()
        if cam_id not in self._view.camera_ids():
            _LOGGER.debug("mqtt: on/off command for unknown camera %s", cam_id)
            audit_command(topic, WHAT, cam_id, value if value in (ON, OFF) else None, "not_found")
        elif value not in (ON, OFF):
            _LOGGER.warning("mqtt: %s expects ON or OFF, got %r", topic, text[:20])
            audit_command(topic, WHAT, cam_id, value, "invalid")
        else:
            self._run_command(self._switch(topic, cam_id, value == ON), f"mqtt.camera_switch[{cam_id}]")
        return True

    async def _switch(self, topic: str, cam_id: str, enabled: bool) -> None:
        try:
            await self._control.set_enabled(cam_id, enabled)
        except BridgeError as err:  # removed meanwhile, or the store failed
            _LOGGER.warning("mqtt: camera %s not switched %s: %s", cam_id, "on" if enabled else "off", err)
            audit_command(topic, WHAT, cam_id, ON if enabled else OFF, err)
        else:
            audit_command(topic, WHAT, cam_id, ON if enabled else OFF)
