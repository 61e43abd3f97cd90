"""What the bridge says on MQTT: availability, status, snapshots, discovery; and its commands.

Listens to the event bus (camera state changes, new snapshots, ...), reads the bridge through its
view (re-publishing everything on every (re)connect and on Home Assistant's birth) and hands
commands to its control; it never reaches into a part. Its features (the cameras' topics,
detection, camera switch, recording, timelapses, USB) implement one protocol,
bridge/mqtt/feature.py; the publisher itself keeps the bridge's topics (availability, state,
discovery of the bridge device, Home Assistant's birth, stale discovery cleanup). Topics and
payloads: docs/mqtt.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiomqtt

from .. import __version__
from ..config import CameraConfig, MqttConfig
from ..core.control import BridgeControl
from ..core.events import (
    BridgeEvent,
    CameraAdded,
    CameraEvent,
    CameraRemoved,
    CameraStatusChanged,
    DiscoverySwitched,
    EventBus,
    UsbAttached,
)
from ..core.view import BridgeView
from ..service import Service
from ..status import CameraState, iso_utc
from . import detection, discovery
from .cameras import CameraMqtt, Guard
from .client import MqttLink
from .feature import MqttFeature
from .topics import CAMERA_RETAINED, OFFLINE, ONLINE, TIMELAPSE_RETAINED, Topics

_LOGGER = logging.getLogger(__name__)

#: seconds allowed for the final offline messages at shutdown (the will covers the rest); with
#: the connection's DISCONNECT_TIMEOUT it keeps a stop well within the bridge's 5 s
SHUTDOWN_PUBLISH_TIMEOUT = 2.0


class MqttPublisher(Service):
    """Async context manager publishing the bridge's state (tasks ``mqtt.connection``,
    ``mqtt.status``). On every (re)connect, and when Home Assistant announces itself on
    ``mqtt.ha_status_topic``, it publishes discovery and the current state once."""

    def __init__(
        self,
        config: MqttConfig,
        view: BridgeView,
        bus: EventBus | None = None,
        control: BridgeControl | None = None,
        member: str | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._view = view
        self.topics = Topics(
            self._config.base_topic, self._config.discovery_prefix, self._config.ha_status_topic, member
        )
        #: cluster mode: whether this bridge may publish for a camera now (its lease valid);
        #: checked when a camera's event arrives, when a message is queued and when it is sent
        self.may_publish: Callable[[str], bool] | None = None
        #: cluster mode: fields added to a camera's status (``owner``, ``epoch``)
        self.status_fields: Callable[[str], dict[str, Any]] = lambda _cam_id: {}
        self.started_at = time.time()
        self._stopping = False
        #: the bridge's persistent id (bridge/instance.py), set before the publisher starts
        self.instance_id: str | None = None
        #: HA discovery switched off at run time (``PUT /api/bridge/discovery``)
        self.discovery_off = False
        #: the errors of a rejected configuration reload (``config_error`` of the bridge state)
        self.config_error: Callable[[], list[str] | None] = lambda: None
        #: the features (the cameras' topics, detection, switch, recording, timelapses, USB):
        #: :meth:`add_feature`; the cameras' topics and detection are always there, first
        self.features: list[MqttFeature] = []
        subscriptions: list[str] = []
        self._subscriptions = subscriptions
        if self._config.discovery:
            subscriptions += [self.topics.ha_status, self.topics.discovery_filter]
        self.link = MqttLink(
            self._config,
            will=(self.topics.bridge_availability, OFFLINE),
            subscriptions=subscriptions,
            on_message=self._on_message,
            on_connect=self._on_connect,
        )
        self.control = control  #: where commands go (snapshot now; the features' commands)
        self._unlisten: Callable[[], None] = lambda: None
        if bus is not None:
            self._unlisten = bus.listen(self.on_event)
        #: set by :meth:`retire`: what to clear instead of the final offline messages
        self._retiring: tuple[bool, bool, bool] | None = None
        self.cameras = CameraMqtt(
            view,
            control,
            self.link,
            self.topics,
            may=self._may,
            guard=self._guard,
            status_fields=lambda cam_id: self.status_fields(cam_id),
        )
        self.add_feature(self.cameras)
        self.add_feature(detection.DetectionMqtt(view, control, self.link, self.topics))

    def _discovery_configs(
        self, cameras: list[CameraConfig] | None = None, with_bridge: bool = True
    ) -> dict[str, dict[str, Any]]:
        """Discovery configs (topic -> payload), the bridge device's first (via_device)."""
        if not self.discovery_enabled:
            return {}
        configs = discovery.bridge_configs(self.topics) if with_bridge else []
        if cameras is None:
            cameras = [self._view.camera(cam_id) for cam_id in self._view.camera_ids()]
        for ext in self.features:  # the cameras' devices first
            configs += ext.discovery_configs(cameras, with_bridge)
        return dict(configs)

    @property
    def discovery_enabled(self) -> bool:
        """Whether Home Assistant MQTT discovery is published (configured and not switched off)."""
        return self._config.discovery and not self.discovery_off

    def set_discovery(self, enabled: bool) -> None:
        """Switch HA discovery on or off at run time: off clears every retained discovery
        config of the bridge (HA then removes those MQTT entities), on publishes them again.
        Only a configured discovery (``mqtt.discovery: true``) can be switched."""
        if enabled == self.discovery_enabled or not self._config.discovery:
            return
        if enabled:
            self.discovery_off = False
            self._publish_discovery()
        else:
            for topic in self._discovery_configs():
                self.link.publish(topic, b"", retain=True, qos=1)
            self.discovery_off = True
        _LOGGER.info("mqtt: Home Assistant discovery switched %s", "on" if enabled else "off")
        self._publish_bridge_state()

    def add_feature(self, ext: MqttFeature) -> None:
        """Add a feature that publishes more (see :class:`~bridge.mqtt.feature.MqttFeature`),
        before the publisher is entered."""
        self.features.append(ext)
        self._subscriptions += ext.subscriptions

    async def _start(self) -> None:
        await self.link.__aenter__()

    def run_command(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run an MQTT command's work (a camera switch, a timelapse action) as task ``name`` in
        the publisher's group: off the message loop, cancelled and awaited when the publisher
        stops, ignored once it is stopping. An unexpected error is logged, never fatal."""
        if self._stopping:
            coro.close()
            _LOGGER.debug("mqtt: bridge stopping, command %s ignored", name)
            return
        self._start_task(self._command(coro, name), name)

    @staticmethod
    async def _command(coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except Exception:  # a bad command must not stop the bridge
            _LOGGER.exception("mqtt: command %s failed", name)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        loops = {"mqtt.status": self._periodic()}
        for ext in self.features:
            loops.update(ext.loops())
        return loops

    async def stop_commands(self) -> None:
        """Ignore MQTT commands from now on; cancel the running ones and wait for them (the
        bridge's first step when it stops, before the parts they act on)."""
        self._stopping = True
        running = [t for t in self._tasks if t.get_name() != "mqtt.status" and not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    def retire(self, *, discovery: bool, state: bool, offline: bool) -> None:
        """Leave the publisher for another one (a reload changed MQTT topics or discovery): when
        it stops it clears its retained discovery configs (``discovery``) and its retained state
        topics (``state``: cameras, timelapses, the bridge), and publishes the bridge offline
        only when ``offline`` (another broker, or other topics); otherwise nothing, so the one
        taking over under the same topics does not flap the availability."""
        self._retiring = (discovery, state, offline)

    async def _finish(self) -> None:
        await self.stop_commands()
        self._unlisten()
        try:
            async with asyncio.timeout(SHUTDOWN_PUBLISH_TIMEOUT):
                if self._retiring is None:
                    await self._publish_offline()
                else:
                    await self._clear_retained(*self._retiring)
        except TimeoutError:
            _LOGGER.warning("mqtt: final state not published within %s s", SHUTDOWN_PUBLISH_TIMEOUT)
        finally:
            await self.link.__aexit__(None, None, None)

    async def _publish_offline(self) -> None:
        """Final retained state: every camera stopped and offline, the bridge offline."""
        await self.cameras.publish_offline()
        cam_ids = self._view.camera_ids()
        final_state = {**self.bridge_state(), "cameras": {cam_id: str(CameraState.STOPPED) for cam_id in cam_ids}}
        await self.link.publish_now(self.topics.bridge_state, json.dumps(final_state), retain=True)
        await self.link.publish_now(self.topics.bridge_availability, OFFLINE, retain=True)

    async def _clear_retained(self, discovery: bool, state: bool, offline: bool) -> None:
        if discovery:
            for topic in self._discovery_configs():
                await self.link.publish_now(topic, b"", retain=True)
        if offline and not state:
            await self.link.publish_now(self.topics.bridge_availability, OFFLINE, retain=True)
        if not state:
            return
        for cam_id in self._view.camera_ids():
            for leaf in CAMERA_RETAINED:
                await self.link.publish_now(self.topics.camera(cam_id, leaf), b"", retain=True)
        for _name, timelapse in self._view.timelapse_states() or ():
            for leaf in TIMELAPSE_RETAINED:
                await self.link.publish_now(self.topics.timelapse(timelapse["id"], leaf), b"", retain=True)
        await self.link.publish_now(self.topics.bridge_state, b"", retain=True)
        await self.link.publish_now(self.topics.bridge_availability, b"", retain=True)

    # -- producers -------------------------------------------------------------------------

    def on_event(self, event: BridgeEvent) -> None:
        """Publish what an event of the bus changes, then hand it to every feature. In cluster
        mode an event of a camera this bridge may no longer publish (its lease lost) is
        dropped, except a removal."""
        cam_id = event.camera if isinstance(event, (CameraEvent, UsbAttached)) else None
        if cam_id is not None and not isinstance(event, CameraRemoved) and not self._may(cam_id):
            return
        if isinstance(event, CameraAdded):
            if event.camera in self._view.camera_ids():
                self.camera_added(event.camera)
        elif isinstance(event, CameraRemoved):
            self.camera_removed(event.config)
        elif isinstance(event, DiscoverySwitched):
            self.set_discovery(event.enabled)
        for ext in self.features:
            ext.on_event(event)
        if isinstance(event, CameraStatusChanged) and event.camera in self._view.camera_ids():
            self._publish_bridge_state()  # its camera's state (after the feature's status)

    def _guard(self, cam_id: str) -> Guard:
        """The send-time check of a camera's message (cluster mode), else None."""
        may = self.may_publish
        return None if may is None else (lambda: may(cam_id))

    def _may(self, cam_id: str) -> bool:
        return self.may_publish is None or self.may_publish(cam_id)

    def camera_added(self, cam_id: str) -> None:
        """Announce a camera added (or restarted with new options, or taken over from another
        bridge of the cluster: its discovery then names this bridge's availability)."""
        for topic, payload in self._discovery_configs([self._view.camera(cam_id)], with_bridge=False).items():
            self.link.publish(topic, json.dumps(payload), retain=True, qos=1)
        for ext in self.features:  # the cameras' topics first
            ext.publish_camera(cam_id)
        self._publish_bridge_state()

    def camera_removed(self, config: CameraConfig) -> None:
        """Clear a removed camera's discovery configs (its retained state topics: the features',
        on the same event)."""
        for topic in self._discovery_configs([config], with_bridge=False):
            self.link.publish(topic, b"", retain=True, qos=1)
        self._publish_bridge_state()

    # -- publishing ------------------------------------------------------------------------

    def bridge_state(self) -> dict[str, Any]:
        """The ``{base}/bridge/state`` payload."""
        now = time.time()
        return {
            "id": self.instance_id,
            "version": __version__,
            "started_at": iso_utc(self.started_at),
            "uptime_s": int(now - self.started_at),
            "cameras": {cam_id: str(self._view.camera_status(cam_id).state) for cam_id in self._view.camera_ids()},
            "discovery": self.discovery_enabled,
            "mediamtx": None,
            "config_error": self.config_error(),
            **({} if self.topics.member is None else {"member": self.topics.member}),
            **{k: v for ext in self.features for k, v in ext.state_fields().items()},
        }

    def _publish_bridge_state(self) -> None:
        self.link.publish(self.topics.bridge_state, json.dumps(self.bridge_state()), retain=True, qos=1)

    def _publish_discovery(self) -> None:
        for topic, payload in self._discovery_configs().items():
            self.link.publish(topic, json.dumps(payload), retain=True, qos=1)

    def _publish_all(self) -> None:
        """Everything again (a broker may have lost its retained state)."""
        self.link.publish(self.topics.bridge_availability, ONLINE, retain=True, qos=1)
        self._publish_discovery()
        for ext in self.features:  # the cameras' topics first
            ext.publish_all()
        self._publish_bridge_state()

    def publish_bridge_state(self) -> None:
        """Publish the bridge state now (a part's field changed)."""
        self._publish_bridge_state()

    async def _on_connect(self) -> None:
        self._publish_all()

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._config.status_interval)
            for cam_id in self._view.camera_ids():
                self.cameras.publish_status(cam_id)
            self._publish_bridge_state()

    # -- incoming --------------------------------------------------------------------------

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        if message.topic.matches(self.topics.discovery_filter):
            # only what the broker kept from before (retained, sent on subscribing): a live
            # message is the echo of a config just published, which may arrive while its camera
            # is being switched or restarted (out of the camera map for a moment)
            if message.retain:
                self._check_discovery(topic, message.payload)
            return
        if message.retain:
            # a retained command would replay on every restart: never act on one
            _LOGGER.debug("mqtt: ignoring retained message on %s", topic)
            return
        if topic == self.topics.ha_status:
            if message.payload in (b"online", "online"):
                _LOGGER.info("mqtt: Home Assistant is online, re-publishing discovery and state")
                self._publish_all()
            return
        if self.control is None:
            return
        for ext in self.features:
            if ext.on_message(topic, message.payload):
                return

    def _check_discovery(self, topic: str, payload: Any) -> None:
        """Clear a retained discovery config this bridge published earlier but no longer has
        (a camera removed from the configuration), and that camera's retained state topics.
        Not in cluster mode: the other bridges' configs share the node id (a removed camera's
        owner clears its topics)."""
        if not payload or topic in self._discovery_configs() or self.topics.member is not None:
            return
        try:
            old = json.loads(payload)
        except (ValueError, TypeError):
            old = {}
        _LOGGER.info("mqtt: clearing stale discovery config %s", topic)
        self.link.publish(topic, b"", retain=True, qos=1)
        for ext in self.features:  # a camera's topics, its detection's, a timelapse no longer defined
            if isinstance(old, dict):
                ext.clear_stale(old)
