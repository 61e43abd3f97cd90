"""The composition root: builds the bridge's parts and adapters and nests them as context
managers. Only ``cli.py`` imports it.

``config -> store -> event bus, camera set, registry -> ports (view, control) -> parts
(MediaMTX, USB, timelapses) -> adapters (MQTT publisher and its features, API server)``, entered
on one exit stack and left in reverse order. The camera lifecycle lives in ``cameras.py``; the
two ports in ``ports.py``; see docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from . import __version__, instance, systemd
from .cameras import CameraSet
from .config import CameraConfig, Config, MqttConfig, camera_from_data
from .config.diff import ConfigDiff
from .config.history import ConfigHistory
from .core.events import ConfigReloaded, EventBus, TimelapseEvent, TimelapseImage
from .mqtt.camera_switch import CameraSwitchMqtt
from .mqtt.publisher import MqttPublisher
from .mqtt.reload import ReloadMqtt
from .mqtt.timelapses import TimelapseMqtt
from .mqtt.usb import UsbMqtt
from .ports import LiveControl, LiveView, Parts
from .registry import Registry
from .reloader import Reloader, ReloadResult
from .snapshot import ENCODER
from .store import Store

if TYPE_CHECKING:
    from .api.server import ApiServer
    from .cluster.node import ClusterNode
    from .mediamtx.restream import Restream
    from .mediamtx.service import MediamtxService
    from .timelapse.manager import TimelapseManager
    from .usb.monitor import UsbMonitor

_LOGGER = logging.getLogger(__name__)


class Bridge:
    """Runs the cameras and publishes them on MQTT, the API and the event bus.

    ``async with Bridge(config) as bridge:`` starts the configured cameras; leaving the block
    publishes ``offline`` and stops every camera. The attributes give tests and the CLI the
    running parts (``cameras``, ``registry``, ``timelapses``, ``mediamtx``, ``usb``, ``api``,
    ...); the adapters get only ``view`` and ``control``.
    """

    #: ``mqtt`` keys a running connection can take by reconnecting (the others change topics)
    MQTT_CONNECTION = ("host", "port", "username", "password", "client_id", "keepalive")

    def __init__(self, config: Config, *, config_path: Path | None = None, config_text: str | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self._config_text = config_text
        ENCODER.configure(config.encoder_threads)
        self.events = EventBus()
        self.camera_set = CameraSet(
            self.events, config.state_dir / "captures", config.state_dir / "clips", event_urls=config.api.enabled
        )
        self.cameras = self.camera_set.cameras
        self.snapshots = self.camera_set.snapshots
        self.detectors = self.camera_set.detectors
        self.parts = Parts(config, self.events, self.camera_set, new_camera=self._new_camera)
        self.view = LiveView(self.parts)
        self.control = LiveControl(self.parts)
        self.node: ClusterNode | None = None  # cluster mode (docs/cluster.md)
        if config.cluster.enabled:
            from .cluster.node import ClusterNode

            self.node = ClusterNode(config, self.camera_set, self._new_camera)
            self.parts.cluster = self.node.member
        self.publisher = MqttPublisher(
            _mqtt_of(config),
            self.view,
            bus=self.events,
            control=self.control,
            member=self.node.name if self.node is not None else None,
        )
        if self.node is not None:
            member = self.node.member
            self.publisher.may_publish = member.valid
            self.publisher.status_fields = lambda cam_id: {"owner": member.name, "epoch": member.epoch(cam_id)}
        self.parts.bridge_state = self.publisher.bridge_state
        self.parts.mqtt_connected = self.publisher.link.connected.is_set
        self.parts.node_id = self.publisher.topics.node_id
        link = self.publisher.link
        self.parts.mqtt_counters = lambda: (link.connects, link.published)
        self._timelapse_mqtt = TimelapseMqtt(self.publisher, self.view, self.control, discovery=config.mqtt.discovery)
        self.publisher.add_feature(self._timelapse_mqtt)
        self.publisher.add_feature(
            CameraSwitchMqtt(
                self.view, self.control, self.publisher.link, self.publisher.topics, self.publisher.run_command
            )
        )
        if config.usb.discovery != "off":
            self.publisher.add_feature(UsbMqtt(self.publisher.link, self.publisher.topics))
        if config.mediamtx.enabled:
            from .mqtt.recording import RecordingMqtt

            self.publisher.add_feature(RecordingMqtt(self.view, self.control, self.publisher))
        self.publisher.config_error = self.view.config_error
        self.publisher.add_feature(ReloadMqtt(self.publisher.publish_bridge_state))
        self.api: ApiServer | None = None
        self.reloader: Reloader | None = None
        self._stack = AsyncExitStack()
        self._api_stack = AsyncExitStack()  # its own: a reload rebinds the API alone
        self._api_restart: asyncio.Task[None] | None = None

    # the running parts (None until started, or when not configured)

    @property
    def store(self) -> Store | None:
        return self.parts.store

    @property
    def registry(self) -> Registry | None:
        return self.parts.registry

    @property
    def instance(self) -> instance.Instance | None:
        return self.parts.instance

    @property
    def mediamtx(self) -> MediamtxService | None:
        return self.parts.mediamtx

    @property
    def restream(self) -> Restream | None:
        return self.parts.restream

    @property
    def usb(self) -> UsbMonitor | None:
        return self.parts.usb

    @property
    def timelapses(self) -> TimelapseManager | None:
        return self.parts.timelapses

    @property
    def disabled(self) -> set[str]:
        """Ids of the cameras switched off."""
        return self.camera_set.disabled

    async def __aenter__(self) -> Self:
        config, parts = self.config, self.parts
        try:
            path = config.state_dir / "bridge.db"  # first: cameras start with their saved switches
            parts.store = store = await asyncio.to_thread(Store, path)  # closed after the cameras stopped
            if config.mediamtx.enabled:
                from .mediamtx.restream import Restream
                from .mediamtx.service import MediamtxService

                parts.mediamtx = MediamtxService(config.mediamtx, self.camera_set, store, self.events)
                parts.restream = Restream(parts.mediamtx, self.camera_set)
                self.camera_set.router = parts.restream.route
            if self.node is None:
                await self.camera_set.open(store, list(config.cameras.values()))
            else:  # cameras start where their lease is held; switches live in the cluster
                await self.camera_set.open(self.node.switches, [])  # type: ignore[arg-type]
            parts.instance = await asyncio.to_thread(instance.load, config.state_dir)
            self.publisher.instance_id = parts.instance.id
            self.publisher.discovery_off = parts.instance.ha_discovery is False
            await self._stack.enter_async_context(self.publisher)
            parts.registry = Registry(self.camera_set, store, config, self.node)
            await parts.registry.restore()
            if self.node is not None:
                await self._stack.enter_async_context(self.node)  # left before the publisher
            if parts.mediamtx is not None:
                await self._stack.enter_async_context(parts.mediamtx)
            if config.usb.discovery != "off":
                from .usb.monitor import UsbMonitor

                parts.usb = UsbMonitor(config.usb, self.control)
                await self._stack.enter_async_context(parts.usb)
            await self._start_timelapses()
            if self._config_path is not None:
                text = self._config_text
                if text is None:
                    text = await asyncio.to_thread(self._config_path.read_text, encoding="utf-8")
                parts.reloader = self.reloader = Reloader(
                    self._config_path,
                    text,
                    config,
                    self._apply,
                    self._on_reload,
                    ConfigHistory(config.state_dir / "config-history"),
                )
                await self._stack.enter_async_context(self.reloader)
            await self._start_api(config)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        _LOGGER.info("bridge %s started with %d camera(s)", __version__, len(self.cameras))
        return self

    async def __aexit__(self, *exc: object) -> None:
        _LOGGER.info("bridge stopping")
        try:
            await self.publisher.stop_commands()  # no MQTT command acts on a stopping part
            if self._api_restart is not None:
                await asyncio.gather(self._api_restart, return_exceptions=True)
            await self._api_stack.aclose()
            await self._stack.aclose()  # the publisher first: final offline messages
        finally:
            try:
                await self.camera_set.aclose()
            finally:
                if self.parts.store is not None:
                    self.parts.store.close()

    async def _start_api(self, config: Config) -> None:
        if config.api.enabled:
            from .api.server import ApiServer  # aiohttp & co. (~35 MiB) only when serving

            self.api = ApiServer(self.view, self.control, config.api)
            await self._api_stack.enter_async_context(self.api)

    async def _restart_api(self, config: Config) -> None:
        """Rebind the API with new settings (a task of its own: a reload asked through the API
        answers before its server closes)."""
        await asyncio.sleep(0)  # let the answer of a reload asked through the API go out
        await self._api_stack.aclose()
        self.api = None
        self._api_stack = AsyncExitStack()
        try:
            await self._start_api(config)
        except OSError as err:  # e.g. the new port is taken: the bridge runs on without its API
            _LOGGER.error("api: cannot listen on %s:%s after the reload: %s", config.api.host, config.api.port, err)
        else:
            if self.api is not None:
                _LOGGER.info("api: listening on %s:%s after the reload", config.api.host, self.api.port)

    async def _apply(self, new: Config, change: ConfigDiff) -> list[str]:
        """Apply a reloaded, valid configuration: restart exactly what changed (each changed
        camera alone; MQTT connection settings reconnect; API settings rebind). Returns the
        sections that take effect only at the next start (logged)."""
        sets, registry = self.camera_set, self.parts.registry
        if self.node is not None:  # the YAML cameras go to the shared registry, owners restart them
            await self.node.join_yaml(new, change.removed)
        for cam_id in change.removed if self.node is None else ():
            if cam_id in sets.cameras:
                await sets.remove(cam_id)
        for cam_id in change.changed if self.node is None else ():
            if cam_id in sets.cameras:
                await sets.replace(new.cameras[cam_id])
            else:
                await sets.add(new.cameras[cam_id])
        for cam_id in change.added if self.node is None else ():
            if cam_id in sets.cameras:  # an API camera of that id: the YAML one wins, as at start
                _LOGGER.warning("config reload: camera %s of the file replaces the API camera of that id", cam_id)
                await sets.replace(new.cameras[cam_id])
            else:
                await sets.add(new.cameras[cam_id])
        if registry is not None:
            registry.reconfigure(new)
        restart: list[str] = []
        for section in change.sections:
            if section == "log_level":
                logging.getLogger().setLevel(new.log_level.upper())
            elif section == "mqtt":
                keys = [k for k in vars(new.mqtt) if getattr(new.mqtt, k) != getattr(self.config.mqtt, k)]
                if any(k in self.MQTT_CONNECTION for k in keys):
                    self.publisher.link.reconfigure(_mqtt_of(new))
                restart += [f"mqtt.{k}" for k in keys if k not in self.MQTT_CONNECTION]
            elif section == "api":
                self._api_restart = asyncio.create_task(self._restart_api(new), name="api.rebind")
            elif section == "detect":
                pass  # YAML cameras carry their merged options (changed above); new API cameras take it
            else:
                restart.append(section)
        if restart:
            _LOGGER.warning("config reload: %s take effect at the next start", ", ".join(restart))
        self.config = self.parts.config = new
        return restart

    def _on_reload(self, result: ReloadResult) -> None:
        self.events.publish(
            ConfigReloaded(result.applied, result.source, result.errors, result.diff.summary(), result.diff.as_data())
        )

    def _new_camera(self, cam_id: str, data: dict[str, Any]) -> CameraConfig:
        """A camera's options from plain ones, laid over the file's defaults. Raises ConfigError."""
        return camera_from_data(cam_id, data, self.config.mqtt.base_topic, detect=self.config.detect)

    async def _start_timelapses(self) -> None:
        from .timelapse.manager import TimelapseManager

        assert self.parts.store is not None
        manager = TimelapseManager(
            self.config,
            self.cameras,
            self.parts.store,
            on_event=self._on_timelapse_event,
            on_image=self._on_timelapse_image,
        )
        await self._stack.enter_async_context(manager)
        self.parts.timelapses = manager
        self._timelapse_mqtt.publish_all()  # discovery and state of the timelapses, once they run

    def _on_timelapse_event(self, type_: str, data: dict[str, Any]) -> None:
        self.events.publish(TimelapseEvent(type_.removeprefix("timelapse."), data))

    def _on_timelapse_image(self, tl_id: str, jpeg: bytes) -> None:
        self.events.publish(TimelapseImage(tl_id, jpeg))

    # -- camera changes (the camera set's; kept here for the tests and the CLI) ------------

    async def add_camera(self, config: CameraConfig) -> None:
        """:meth:`CameraSet.add <bridge.cameras.CameraSet.add>`."""
        await self.camera_set.add(config)

    async def replace_camera(self, config: CameraConfig) -> None:
        """:meth:`CameraSet.replace <bridge.cameras.CameraSet.replace>`."""
        await self.camera_set.replace(config)

    async def remove_camera(self, cam_id: str) -> None:
        """:meth:`CameraSet.remove <bridge.cameras.CameraSet.remove>`."""
        await self.camera_set.remove(cam_id)

    async def set_camera_offline(self, cam_id: str, reason: str) -> None:
        """:meth:`CameraSet.set_offline <bridge.cameras.CameraSet.set_offline>`."""
        await self.camera_set.set_offline(cam_id, reason)

    async def set_camera_enabled(self, cam_id: str, enabled: bool) -> bool:
        """:meth:`CameraSet.set_enabled <bridge.cameras.CameraSet.set_enabled>`."""
        return await self.camera_set.set_enabled(cam_id, enabled)


def _mqtt_of(config: Config) -> MqttConfig:
    """The MQTT settings; a clustered bridge's default client id names its member (bridges of
    one cluster share the base topic, and one client id would make the broker drop the other)."""
    mqtt = config.mqtt
    if config.cluster.enabled and mqtt.client_id is None:
        base = mqtt.base_topic.replace("/", "-")
        mqtt = dataclasses.replace(mqtt, client_id=f"camera-bridge-{base}-{config.cluster.member}")
    return mqtt


async def run(
    config: Config,
    stop: asyncio.Event,
    *,
    path: Path | None = None,
    text: str | None = None,
    hangup: asyncio.Event | None = None,
) -> None:
    """Run the bridge until ``stop`` is set, talking to systemd (READY, WATCHDOG, STOPPING,
    RELOADING). ``path``/``text``: the configuration file and the text it was read from, for
    hot reload; each time ``hangup`` is set (SIGHUP) the file is reloaded."""
    async with Bridge(config, config_path=path, config_text=text) as bridge:
        systemd.notify("READY=1", f"STATUS=running {len(config.cameras)} camera(s)")
        interval = systemd.watchdog_interval()
        while not stop.is_set():
            if interval is not None:
                systemd.notify("WATCHDOG=1")
            waits = [asyncio.ensure_future(stop.wait())]
            if hangup is not None:
                waits.append(asyncio.ensure_future(hangup.wait()))
            try:
                await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            if hangup is not None and hangup.is_set() and not stop.is_set():
                hangup.clear()
                if bridge.reloader is None:
                    _LOGGER.warning("SIGHUP: the bridge runs without a configuration file: nothing to reload")
                    continue
                systemd.notify("RELOADING=1")
                await bridge.reloader.reload("SIGHUP")
                systemd.notify("READY=1")
        systemd.notify("STOPPING=1")
