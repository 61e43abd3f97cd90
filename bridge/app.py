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
from .core.audit import AuditFile
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
    from .timelapse.shared import SharedTimelapseArchive
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
            self.parts.node = self.node
            self.node.describe = self._describe
            self.events.listen(self.node.on_event)
        self.publisher = self._make_publisher(config)
        self.api: ApiServer | None = None
        self.reloader: Reloader | None = None
        self._stack = AsyncExitStack()
        self._api_stack = AsyncExitStack()  # its own: a reload rebinds the API alone
        self._api_restart: asyncio.Task[None] | None = None
        self.audit_file = AuditFile()  #: ``audit.file`` (bridge/core/audit.py)

    def _make_publisher(self, config: Config) -> MqttPublisher:
        """The MQTT publisher and its features for ``config`` (at start, and again when a reload
        changes MQTT topics or discovery, or which features MediaMTX and USB need)."""
        publisher = MqttPublisher(
            _mqtt_of(config),
            self.view,
            bus=self.events,
            control=self.control,
            member=self.node.name if self.node is not None else None,
        )
        if self.node is not None:
            member = self.node.member
            publisher.may_publish = member.valid
            publisher.status_fields = lambda cam_id: {"owner": member.name, "epoch": member.epoch(cam_id)}
        self.parts.bridge_state = publisher.bridge_state
        self.parts.mqtt_connected = publisher.link.connected.is_set
        self.parts.node_id = publisher.topics.node_id
        link = publisher.link
        self.parts.mqtt_counters = lambda: (link.connects, link.published)
        self._timelapse_mqtt = TimelapseMqtt(publisher, self.view, self.control, discovery=config.mqtt.discovery)
        publisher.add_feature(self._timelapse_mqtt)
        publisher.add_feature(
            CameraSwitchMqtt(self.view, self.control, publisher.link, publisher.topics, publisher.run_command)
        )
        if config.usb.discovery != "off":
            publisher.add_feature(UsbMqtt(publisher.link, publisher.topics))
        if config.mediamtx.enabled:
            from .mqtt.recording import RecordingMqtt

            publisher.add_feature(RecordingMqtt(self.view, self.control, publisher))
        publisher.config_error = self.view.config_error
        publisher.add_feature(ReloadMqtt(publisher.publish_bridge_state))
        return publisher

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
            self.audit_file.apply(config.audit)  # first: every command is audited
            path = config.state_dir / "bridge.db"  # first: cameras start with their saved switches
            parts.store = store = await asyncio.to_thread(Store, path)  # closed after the cameras stopped
            self.camera_set.router = self._route  # MediaMTX's restream, when it runs
            self._start_mediamtx(config)
            if self.node is None:
                await self.camera_set.open(store, list(config.cameras.values()))
            else:  # cameras start where their lease is held; switches live in the cluster
                await self.camera_set.open(self.node.switches, [])  # type: ignore[arg-type]
            parts.instance = await asyncio.to_thread(instance.load, config.state_dir)
            self.publisher.instance_id = parts.instance.id
            self.publisher.discovery_off = parts.instance.ha_discovery is False
            await self.publisher.__aenter__()  # the current one is left: a reload may replace it
            self._stack.push_async_callback(self._leave, "publisher")
            parts.registry = Registry(self.camera_set, store, config, self.node)
            await parts.registry.restore()
            if self.node is not None:
                await self._stack.enter_async_context(self.node)  # left before the publisher
            if parts.mediamtx is not None:
                await parts.mediamtx.__aenter__()
            self._stack.push_async_callback(self._leave, "mediamtx")
            await self._start_usb(config)
            self._stack.push_async_callback(self._leave, "usb")
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
                self.audit_file.close()

    async def _leave(self, name: str) -> None:
        """Leave the current ``publisher`` or part ``name`` (``mediamtx``, ``usb``,
        ``timelapses``): the one running now, which a reload may have replaced."""
        part = self.publisher if name == "publisher" else getattr(self.parts, name)
        if part is not None:
            await part.__aexit__(None, None, None)

    def _route(self, config: CameraConfig) -> CameraConfig:
        """The camera router: MediaMTX's restream while it runs, else the camera's own source."""
        restream = self.parts.restream
        return config if restream is None else restream.route(config)

    def _start_mediamtx(self, config: Config, formats: dict[str, list[str]] | None = None) -> None:
        """Build the MediaMTX part for ``config`` (none when not enabled); entered by the caller."""
        parts = self.parts
        if not config.mediamtx.enabled:
            parts.mediamtx = parts.restream = None
            return
        from .mediamtx.restream import Restream
        from .mediamtx.service import MediamtxService

        assert parts.store is not None
        parts.mediamtx = MediamtxService(config.mediamtx, self.camera_set, parts.store, self.events)
        parts.mediamtx.formats.update(formats or {})
        parts.restream = Restream(parts.mediamtx, self.camera_set)

    async def _start_usb(self, config: Config) -> None:
        if config.usb.discovery == "off":
            self.parts.usb = None
            return
        from .usb.monitor import UsbMonitor

        monitor = UsbMonitor(config.usb, self.control)
        await monitor.__aenter__()
        self.parts.usb = monitor

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
        """Apply a reloaded, valid configuration: restart exactly what changed. Each changed
        camera alone; a changed ``timelapse``/``timelapses`` section the timelapses it changes
        (:meth:`TimelapseManager.reconfigure`); ``mediamtx`` the MediaMTX part; ``usb`` the USB
        monitor; ``mqtt`` reconnects the client (broker and credentials only), or replaces the
        publisher (topics, discovery: old retained topics cleared, everything published again);
        ``api`` rebinds. Returns the sections that take effect only at the next start (logged):
        ``cluster``, ``data_dir``, ``encoder_threads``, ``log_format``."""
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
        old, restart = self.config, []
        rebuild_mqtt = False
        for section in change.sections:
            if section == "log_level":
                logging.getLogger().setLevel(new.log_level.upper())
            elif section == "mqtt":
                keys = [k for k in vars(new.mqtt) if getattr(new.mqtt, k) != getattr(old.mqtt, k)]
                rebuild_mqtt = rebuild_mqtt or any(k not in self.MQTT_CONNECTION for k in keys)
            elif section == "api":
                self._api_restart = asyncio.create_task(self._restart_api(new), name="api.rebind")
            elif section == "mediamtx":  # the recording feature comes and goes with it
                rebuild_mqtt = rebuild_mqtt or new.mediamtx.enabled != old.mediamtx.enabled
            elif section == "usb":  # so does the USB feature
                rebuild_mqtt = rebuild_mqtt or (new.usb.discovery == "off") != (old.usb.discovery == "off")
            elif section == "audit":
                try:
                    self.audit_file.apply(new.audit)
                except OSError as err:  # the file checked at validation went away meanwhile
                    _LOGGER.error("audit: cannot open %s: %s; keeping the previous audit file", new.audit.file, err)
            elif section not in ("detect", "timelapse", "timelapses"):
                # detect: YAML cameras carry their merged options (changed above); new API cameras take it
                restart.append(section)  # cluster, data_dir, encoder_threads, log_format
        self.config = self.parts.config = new
        sections = set(change.sections)
        if "mediamtx" in sections:
            await self._restart_mediamtx(old, new)
        if "usb" in sections:
            await self._leave("usb")
            self.parts.usb = None
            await self._start_usb(new)
        if sections & {"timelapse", "timelapses"} and self.parts.timelapses is not None:
            await self.parts.timelapses.reconfigure(new)
        if rebuild_mqtt:
            await self._restart_publisher(old, new)
        elif "mqtt" in sections:  # the broker or credentials only: the client reconnects
            self.publisher.link.reconfigure(_mqtt_of(new))
        if restart:
            _LOGGER.warning("config reload: %s take effect at the next start", ", ".join(restart))
        return restart

    async def _restart_mediamtx(self, old: Config, new: Config) -> None:
        """Restart the MediaMTX part with new settings: the old one stops (MediaMTX keeps its
        paths), the new one reconciles them; cameras reading through MediaMTX reconnect."""
        from .mediamtx.restream import MEDIAMTX

        parts, sets = self.parts, self.camera_set
        media, restream = parts.mediamtx, parts.restream
        via = [cam_id for cam_id in sets.cameras if restream is not None and restream.via(cam_id) == MEDIAMTX]
        formats = dict(media.formats) if media is not None else {}
        parts.mediamtx = parts.restream = None
        if media is not None:
            await media.__aexit__(None, None, None)
        self._start_mediamtx(new, formats)
        if parts.mediamtx is not None:
            await parts.mediamtx.__aenter__()
        restarted = parts.restream
        if restarted is not None:  # cameras MediaMTX should read for them (read_via_mediamtx on)
            via += [
                cam_id
                for cam_id, camera in sets.cameras.items()
                if cam_id not in via and restarted.routed(camera.config) and not _routed(old, camera.config)
            ]
        for cam_id in via:
            camera = sets.cameras.get(cam_id)
            if camera is not None:
                await sets.replace(camera.config)
        if self.node is not None:  # the stream URLs the others show for this bridge's cameras
            self.node.note()
        _LOGGER.info("config reload: MediaMTX part restarted (%d camera(s) reconnected)", len(via))

    async def _restart_publisher(self, old: Config, new: Config) -> None:
        """Replace the MQTT publisher: the old one clears what it published under topics that
        no longer hold (discovery under the old prefix or with discovery off, the state under the
        old base topic) and disconnects; the new one connects and publishes everything."""
        before, after = old.mqtt, new.mqtt
        moved = before.base_topic != after.base_topic
        publisher = self.publisher
        publisher.retire(
            discovery=moved or before.discovery_prefix != after.discovery_prefix or not after.discovery,
            state=moved,
            offline=moved or any(getattr(before, k) != getattr(after, k) for k in self.MQTT_CONNECTION),
        )
        await publisher.__aexit__(None, None, None)
        self.publisher = self._make_publisher(new)
        self.publisher.instance_id = publisher.instance_id
        self.publisher.discovery_off = publisher.discovery_off
        await self.publisher.__aenter__()
        self._timelapse_mqtt.publish_all()
        _LOGGER.info("config reload: MQTT client reconnected with the new settings")

    def _on_reload(self, result: ReloadResult) -> None:
        self.events.publish(
            ConfigReloaded(result.applied, result.source, result.errors, result.diff.summary(), result.diff.as_data())
        )

    def _describe(self, cam_id: str) -> dict[str, Any]:
        """What this bridge says of a camera it owns, for the other bridges of the cluster: its
        state and the stream URLs of this bridge's MediaMTX. Raises NotFound."""
        return {"state": str(self.view.camera_status(cam_id).state), "stream_urls": self.view.streams(cam_id)[0]}

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
            archive=self._shared_timelapses(),
            cluster_cameras=(lambda: list(node.rows())) if (node := self.node) is not None else None,
        )
        await manager.__aenter__()
        self._stack.push_async_callback(self._leave, "timelapses")
        self.parts.timelapses = manager
        self._timelapse_mqtt.publish_all()  # discovery and state of the timelapses, once they run

    def _shared_timelapses(self) -> SharedTimelapseArchive | None:
        """In cluster mode, the timelapse archive whose rows live in the cluster's database
        (docs/cluster.md#timelapses); None alone."""
        node = self.node
        if node is None:
            return None
        from .timelapse.manager import timelapse_root
        from .timelapse.shared import SharedTimelapseArchive

        def lease_of(tl_id: str) -> tuple[str, int] | None:
            manager = self.parts.timelapses
            rt = manager.timelapses.get(tl_id) if manager is not None else None
            held = node.member.held.get(rt.spec.camera) if rt is not None else None
            return (held.camera, held.epoch) if held is not None and held.valid() else None

        storage = self.config.timelapse.storage if self.config.timelapse else None
        return SharedTimelapseArchive(
            lambda: node.member.pool,
            node.run_blocking,
            timelapse_root(self.config),
            node.name,
            lease_of,
            shared_storage=storage is not None,
        )

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


def _routed(config: Config, camera: CameraConfig) -> bool:
    """Whether ``camera`` is read through MediaMTX under ``config`` (see Restream.routed)."""
    media = config.mediamtx
    return media.enabled and (camera.kind == "usb" or (camera.kind == "rtsp" and media.read_via_mediamtx))


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
    hot reload; each time ``hangup`` is set (SIGHUP) the API's TLS certificate and the file are
    reloaded."""
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
                if bridge.api is not None:  # a renewed certificate, with or without a file change
                    await bridge.api.reload_certificates("SIGHUP")
                if bridge.reloader is None:
                    _LOGGER.warning("SIGHUP: the bridge runs without a configuration file: nothing to reload")
                    continue
                systemd.notify("RELOADING=1")
                await bridge.reloader.reload("SIGHUP")
                systemd.notify("READY=1")
        systemd.notify("STOPPING=1")
