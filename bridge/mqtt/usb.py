"""USB hot-plug on MQTT: ``{base}/bridge/usb`` messages, one per ``usb.added`` /
``usb.removed`` event of the bus (payload ``{"event": "added" | "removed", ...device, camera}``).

They are events, like Zigbee2MQTT's ``bridge/event``: not retained, each one sent (never
coalesced: a quick removed/added pair arrives as two messages). Those of the start (the devices
present), announced before the broker connection is up, are kept (at most :data:`EARLY_MAX`) and
sent once it is; later, while the broker is away, they are lost like any event, and the cameras'
retained ``status`` tells the current state. Topics and payloads: docs/mqtt.md.
"""

from __future__ import annotations

import json

from ..core.events import BridgeEvent, UsbAttached, UsbDetached
from .client import MqttLink
from .feature import Feature
from .topics import Topics

#: USB messages kept until the first broker connection (devices present at start)
EARLY_MAX = 100


class UsbMqtt(Feature):
    """Publisher feature sending the USB events on ``{base}/bridge/usb``."""

    def __init__(self, link: MqttLink, topics: Topics) -> None:
        self._link = link
        self._topics = topics
        #: (topic, payload) announced before the first broker connection; None once sent
        self._early: list[tuple[str, str]] | None = []
        self.subscriptions = []

    def on_event(self, event: BridgeEvent) -> None:
        """Send a USB event (kept until the first connection when the broker was never up)."""
        if not isinstance(event, UsbAttached):
            return
        kind = "removed" if isinstance(event, UsbDetached) else "added"
        message = (self._topics.bridge_usb, json.dumps({"event": kind, **event.data()}))
        if self._early is None:
            self._link.publish(*message, qos=1, coalesce=False)
        elif len(self._early) < EARLY_MAX:
            self._early.append(message)

    def publish_all(self) -> None:
        """On (re)connect: send what was announced before the first connection, once."""
        early, self._early = self._early or [], None
        for topic, payload in early:
            self._link.publish(topic, payload, qos=1, coalesce=False)
