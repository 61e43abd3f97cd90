"""The cameras' own topics on MQTT, as a publisher feature like the others (see
bridge/mqtt/feature.py): the retained ``{base}/{camera}/availability`` (one message per change,
not per retry) and ``{base}/{camera}/status``, the ``{base}/{camera}/snapshot`` picture
(retained unless ``snapshot.retain: false``), the command ``{base}/{camera}/snapshot/set``
(a fresh snapshot from the next keyframe) and each camera's Home Assistant device (its
entities: bridge/mqtt/discovery.py's ``camera_configs``). Topics and payloads: docs/mqtt.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import CameraConfig
from ..core.errors import NoSnapshot, NotFound
from ..core.events import BridgeEvent, CameraRemoved, CameraStatusChanged, SnapshotTaken
from ..status import CameraState
from . import discovery
from .feature import Feature, audit_command
from .topics import CAMERA_RETAINED, OFFLINE, ONLINE

if TYPE_CHECKING:
    from ..core.control import BridgeControl
    from ..core.view import BridgeView
    from .client import MqttLink
    from .topics import Topics

_LOGGER = logging.getLogger(__name__)

#: a message's send-time check (cluster mode: the camera's lease still valid), or None
Guard = Callable[[], bool] | None


class CameraMqtt(Feature):
    """Publisher feature of every camera's availability, status, snapshot and snapshot command.

    ``may(camera id)`` says whether this bridge may publish for a camera now and
    ``guard(camera id)`` gives the send-time check of its messages (cluster mode: its lease
    held; always true alone); ``status_fields(camera id)`` adds fields to its status (cluster
    mode: ``owner``, ``epoch``)."""

    def __init__(
        self,
        view: BridgeView,
        control: BridgeControl | None,
        link: MqttLink,
        topics: Topics,
        *,
        may: Callable[[str], bool],
        guard: Callable[[str], Guard],
        status_fields: Callable[[str], dict[str, Any]],
    ) -> None:
        self._view = view
        self._control = control
        self._link = link
        self._topics = topics
        self._may = may
        self._guard = guard
        self._status_fields = status_fields
        #: the availability last published per camera: one message per change, not per retry
        self._availability: dict[str, str] = {}
        self.subscriptions = [topics.snapshot_command_filter]

    # -- feature interface -----------------------------------------------------------------

    def discovery_configs(self, cameras: list[CameraConfig], with_bridge: bool) -> list[discovery.Config]:
        """Each camera's device and entities."""
        return [config for cam in cameras for config in discovery.camera_configs(self._topics, cam)]

    def publish_camera(self, cam_id: str) -> None:
        """A camera added, restarted or taken over from another bridge of the cluster: its
        availability anew, its status and latest snapshot."""
        self._availability.pop(cam_id, None)
        self._publish(cam_id, with_snapshot=True)

    def publish_all(self) -> None:
        """Every camera's topics again (a broker may have lost its retained state)."""
        self._availability.clear()
        for cam_id in self._view.camera_ids():
            self._publish(cam_id, with_snapshot=True)

    def on_event(self, event: BridgeEvent) -> None:
        """A status change or a new snapshot is published; a removed camera's retained topics
        are cleared."""
        if isinstance(event, CameraStatusChanged):
            if event.camera in self._view.camera_ids():
                self._publish(event.camera, with_snapshot=False)
        elif isinstance(event, SnapshotTaken):
            self.publish_snapshot(event.camera, event.jpeg)
        elif isinstance(event, CameraRemoved):
            self._availability.pop(event.camera, None)
            self._clear(event.camera)

    def on_message(self, topic: str, payload: bytes | str) -> bool:
        """``{base}/{camera}/snapshot/set``: ask the control for a fresh snapshot."""
        cam_id = self._topics.command_camera(topic)
        if cam_id is None:
            return False
        if self._control is not None:
            try:
                self._control.request_snapshot(cam_id)
            except NotFound as err:
                _LOGGER.debug("mqtt: snapshot request for unknown camera %s", cam_id)
                audit_command(topic, "cameras.snapshot_now", cam_id, None, err)
            else:
                audit_command(topic, "cameras.snapshot_now", cam_id, None)
        return True

    def clear_stale(self, payload: dict[str, Any]) -> None:
        """A stale discovery config of a camera this bridge no longer has: clear its topics."""
        cam_id = discovery.camera_of(self._topics, payload)
        if cam_id and cam_id not in self._view.camera_ids():
            self._clear(cam_id)

    # -- publishing ------------------------------------------------------------------------

    def publish_status(self, cam_id: str) -> None:
        """A camera's availability (when it changed) and status (the periodic refresh)."""
        self._publish(cam_id, with_snapshot=False)

    def publish_snapshot(self, cam_id: str, jpeg: bytes) -> None:
        """Publish a new snapshot (retained unless ``snapshot.retain: false``)."""
        if not self._may(cam_id):
            return
        try:
            retain = self._view.camera(cam_id).snapshot.retain
        except NotFound:
            retain = False
        self._link.publish(self._topics.camera(cam_id, "snapshot"), jpeg, retain=retain, guard=self._guard(cam_id))

    async def publish_offline(self) -> None:
        """At shutdown, sent at once: every camera's final status ``stopped`` and availability
        ``offline``."""
        for cam_id in self._view.camera_ids():
            final = {**self._view.camera_status(cam_id).as_payload(), "state": str(CameraState.STOPPED), "fps": None}
            await self._link.publish_now(self._topics.camera(cam_id, "status"), json.dumps(final), retain=True)
            await self._link.publish_now(self._topics.camera(cam_id, "availability"), OFFLINE, retain=True)

    def _publish(self, cam_id: str, *, with_snapshot: bool) -> None:
        if not self._may(cam_id):
            return
        status = self._view.camera_status(cam_id)
        guard = self._guard(cam_id)
        online = ONLINE if status.state == CameraState.STREAMING else OFFLINE
        if self._availability.get(cam_id) != online:  # a camera retrying stays "offline" once
            self._availability[cam_id] = online
            self._link.publish(self._topics.camera(cam_id, "availability"), online, retain=True, qos=1, guard=guard)
        payload = {**status.as_payload(), **self._status_fields(cam_id)}
        self._link.publish(self._topics.camera(cam_id, "status"), json.dumps(payload), retain=True, qos=1, guard=guard)
        if with_snapshot:
            try:
                self.publish_snapshot(cam_id, self._view.snapshot(cam_id).jpeg)
            except NoSnapshot:
                pass

    def _clear(self, cam_id: str) -> None:
        """Clear a camera's retained state topics (its features' too: switch, recording)."""
        for leaf in CAMERA_RETAINED:
            self._link.publish(self._topics.camera(cam_id, leaf), b"", retain=True, qos=1)
