"""The one protocol every MQTT feature implements (the cameras' own topics, their switch,
detection, recording, timelapses, USB, reload): :class:`MqttFeature`. The publisher holds a
list of them, subscribes their topic filters, merges their discovery configs and bridge-state
fields, hands them every event of the bus and every command message, and asks them to
re-publish on (re)connect and on Home Assistant's birth. :class:`Feature` gives the do-nothing default of each hook."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from ..config import CameraConfig
from ..core import audit
from ..core.events import BridgeEvent
from .discovery import Config


class MqttFeature(Protocol):
    """What a feature plugs into :class:`~bridge.mqtt.publisher.MqttPublisher`."""

    #: topic filters it wants messages of (subscribed on every connect)
    subscriptions: list[str]

    def discovery_configs(self, cameras: list[CameraConfig], with_bridge: bool) -> list[Config]:
        """Its Home Assistant discovery configs (topic, payload) for ``cameras``, and its
        bridge-level ones when ``with_bridge``."""
        ...

    def state_fields(self) -> dict[str, Any]:
        """Fields merged into ``{base}/bridge/state``."""
        ...

    def publish_camera(self, cam_id: str) -> None:
        """Publish its retained topics of one camera (added, restarted, switched)."""
        ...

    def publish_all(self) -> None:
        """Publish all its retained topics (on connect, on Home Assistant's birth)."""
        ...

    def on_event(self, event: BridgeEvent) -> None:
        """React to an event of the bus (on the event loop)."""
        ...

    def on_message(self, topic: str, payload: bytes | str) -> bool:
        """Handle a command message (never a retained one); True when the topic was its own."""
        ...

    def clear_stale(self, payload: dict[str, Any]) -> None:
        """A retained discovery config this bridge no longer has was found (``payload``): clear
        what it published for the thing it named."""
        ...

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        """Named loops run in the publisher's TaskGroup while it runs (e.g. applying commands)."""
        ...


class Feature:
    """Base of the features: every hook of :class:`MqttFeature` doing nothing."""

    subscriptions: list[str] = []

    def discovery_configs(self, cameras: list[CameraConfig], with_bridge: bool) -> list[Config]:
        return []

    def state_fields(self) -> dict[str, Any]:
        return {}

    def publish_camera(self, cam_id: str) -> None:
        return None

    def publish_all(self) -> None:
        return None

    def on_event(self, event: BridgeEvent) -> None:
        return None

    def on_message(self, topic: str, payload: bytes | str) -> bool:
        return False

    def clear_stale(self, payload: dict[str, Any]) -> None:
        return None

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {}


def text_of(payload: bytes | bytearray | str) -> str:
    """A command payload as text (undecodable bytes replaced), stripped."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
    return text.strip()


def audit_command(
    topic: str, what: str, camera: str | None, value: str | None, err: BaseException | str | None = None, **extra: Any
) -> None:
    """One audit line (``bridge.core.audit``) of an MQTT command: ``what`` (the control
    method's operation name, e.g. ``cameras.set_enabled``) on ``camera`` with the payload's
    ``value`` (``ON``, ``OFF``, an action; clipped), and its result: ``ok`` when ``err`` is None,
    the error kind of an exception, or ``err`` itself when a string (``invalid``: then the value
    is left out, since a payload that is no command may be anything)."""
    result = err if isinstance(err, str) else audit.result_of(err)
    if result == "invalid":
        value = None
    audit.record("mqtt", "mqtt", None, what, camera, result, topic=topic, value=value, **extra)
