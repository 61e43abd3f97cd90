"""Hot reload on MQTT: ``{base}/bridge/state`` carries ``config_error`` (the ``key.path:
message`` lines of a configuration file that was rejected, while the bridge runs the previous
one; ``null`` when the running configuration is the file's), re-published at each reload."""

from __future__ import annotations

from collections.abc import Callable

from ..core.events import BridgeEvent, ConfigReloaded
from .feature import Feature


class ReloadMqtt(Feature):
    """Publisher feature re-publishing the bridge state (with its ``config_error`` field, which
    the publisher takes from the view) at every reload; ``publish_state`` does it."""

    def __init__(self, publish_state: Callable[[], None]) -> None:
        self._publish_state = publish_state
        self.subscriptions = []

    def on_event(self, event: BridgeEvent) -> None:
        if isinstance(event, ConfigReloaded):
            self._publish_state()
