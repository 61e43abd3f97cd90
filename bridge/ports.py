"""The two ports over the running parts: :class:`LiveView` implements
:class:`~bridge.core.view.BridgeView` (read-only), :class:`LiveControl` implements
:class:`~bridge.core.control.BridgeControl` (every command once). ``app.py`` builds them and
hands them to the adapters (REST, JSON-RPC, MQTT), which never see the parts themselves.

Both read the parts from one :class:`Parts` record that ``app.py`` fills in as it starts them
(a part that is not running, or not configured, is None).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import instance
from .cameras import CameraSet
from .config import CameraConfig, Config, ConfigError
from .core.control import UsbDeviceInfo
from .core.errors import Conflict, MediamtxDisabled, MediamtxDown, NoSnapshot, NotFound, NotRunning, Unavailable
from .core.events import DiscoverySwitched, EventBus, UsbAttached, UsbDetached
from .core.view import CameraStatus, SnapshotFeed, SnapshotImage
from .status import CameraState

if TYPE_CHECKING:
    from .detect.worker import DetectWorker
    from .mediamtx.restream import Restream
    from .mediamtx.service import MediamtxService
    from .registry import Registry
    from .reloader import Reloader
    from .store import Store
    from .timelapse.manager import TimelapseManager
    from .usb.monitor import UsbMonitor

_LOGGER = logging.getLogger(__name__)

#: makes a camera's options from an id and plain options (``{"name", "device"}``), laid over
#: the configuration's defaults; raises ConfigError
NewCamera = Callable[[str, dict[str, Any]], CameraConfig]


@dataclass
class Parts:
    """The running parts the ports read (None: not running, or not configured)."""

    config: Config
    bus: EventBus
    cameras: CameraSet
    store: Store | None = None
    registry: Registry | None = None
    instance: instance.Instance | None = None
    mediamtx: MediamtxService | None = None
    restream: Restream | None = None
    usb: UsbMonitor | None = None
    timelapses: TimelapseManager | None = None
    reloader: Reloader | None = None
    #: the MQTT side, given as functions (the ports do not know the publisher)
    bridge_state: Callable[[], dict[str, Any]] = dict
    mqtt_connected: Callable[[], bool] = lambda: False
    node_id: str = ""  #: the MQTT discovery node id
    mqtt_counters: Callable[[], tuple[int, int]] = lambda: (0, 0)
    #: cluster mode: this bridge's ClusterMember (None: a bridge alone)
    cluster: Any = None
    #: cluster mode: this bridge's ClusterNode (the shared registry as last read)
    node: Any = None
    #: the options of a camera added at run time from plain ones (USB ``auto_add``)
    new_camera: NewCamera | None = None


class LiveView:
    """:class:`~bridge.core.view.BridgeView` over :class:`Parts`."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    @property
    def config(self) -> Config:
        return self._parts.config

    @property
    def events(self) -> EventBus:
        return self._parts.bus

    # -- cameras

    def _camera(self, cam_id: str) -> Any:
        camera = self._parts.cameras.cameras.get(cam_id)
        if camera is None:
            raise NotFound(f"no camera {cam_id}")
        return camera

    def camera_ids(self) -> list[str]:
        return list(self._parts.cameras.cameras)

    def camera(self, cam_id: str) -> CameraConfig:
        return self._camera(cam_id).config

    def camera_status(self, cam_id: str) -> CameraStatus:
        return self._camera(cam_id).status

    def camera_source(self, cam_id: str) -> str:
        self._camera(cam_id)
        registry = self._parts.registry
        return registry.source(cam_id) if registry is not None else "yaml"

    def enabled(self, cam_id: str) -> bool:
        self._camera(cam_id)
        return cam_id not in self._parts.cameras.disabled

    def streams(self, cam_id: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        self._camera(cam_id)
        media, restream = self._parts.mediamtx, self._parts.restream
        if media is None:
            return {}, None
        via = restream.via(cam_id) if restream is not None else "direct"
        return media.stream_urls(cam_id), {**media.camera_info(cam_id), "read_via": via}

    def snapshot(self, cam_id: str) -> SnapshotImage:
        camera = self._camera(cam_id)
        worker = self._parts.cameras.snapshots.get(cam_id)
        snap = worker.latest if worker is not None else None
        if snap is None:
            status = camera.status
            reason = f"camera {cam_id} has no snapshot yet (state {status.state}"
            reason += f": {status.error})" if status.error else ")"
            raise NoSnapshot(reason, str(status.state))
        return snap

    def snapshot_feed(self, cam_id: str) -> SnapshotFeed:
        self._camera(cam_id)
        return self._parts.cameras.snapshots[cam_id]

    def feed_current(self, cam_id: str, feed: SnapshotFeed) -> bool:
        return self._parts.cameras.snapshots.get(cam_id) is feed

    # -- detection and recording

    def _detector(self, cam_id: str) -> DetectWorker:
        self._camera(cam_id)
        worker = self._parts.cameras.detectors.get(cam_id)
        if worker is None:
            raise NotFound(f"camera {cam_id} has no detection")
        return worker

    def detection(self, cam_id: str) -> dict[str, Any]:
        worker = self._detector(cam_id)
        return {
            "camera": worker.camera_id,
            "enabled": worker.enabled,
            "motion": worker.motion,
            "counts": dict(worker.counts),
            "snapshots": sorted(worker.snapshots),
            "stats": worker.stats.as_payload(),
        }

    def best_snapshot(self, cam_id: str, label: str, crop: bool = False) -> bytes | None:
        worker = self._detector(cam_id)
        return (worker.crops if crop else worker.snapshots).get(label)

    def event(self, event_id: str) -> dict[str, Any]:
        for cam_id, worker in self._parts.cameras.detectors.items():
            payload = worker.recent_events.get(event_id)
            if payload is not None:
                return {
                    "id": event_id,
                    "camera": cam_id,
                    "event": payload,
                    "snapshot_url": (
                        f"/api/events/{event_id}/snapshot.jpg" if event_id in worker.event_pictures else None
                    ),
                    "clip_url": payload.get("clip_url"),
                }
        path = self._find_clip(event_id)
        if path is None:
            raise NotFound(f"no event {event_id}")
        return {
            "id": event_id,
            "camera": path.parent.name,
            "event": None,
            "snapshot_url": None,
            "clip_url": f"/api/events/{event_id}/clip.mp4",
        }

    def event_snapshot(self, event_id: str) -> bytes:
        for worker in self._parts.cameras.detectors.values():
            picture = worker.event_pictures.get(event_id)
            if picture is not None:
                return picture.jpeg
        raise NotFound(f"no snapshot of event {event_id}")

    async def event_clips(self, cam_id: str) -> list[dict[str, Any]]:
        from .detect.clips import list_clips
        from .status import iso_utc

        self._camera(cam_id)
        worker = self._parts.cameras.detectors.get(cam_id)
        recorder = worker.clip_recorder if worker is not None else None
        root = self._parts.cameras.clip_root
        directory = recorder.dir if recorder is not None else root / cam_id if root is not None else None
        clips = await asyncio.to_thread(list_clips, directory) if directory is not None else []
        out = []
        for event_id, size, written in clips:
            payload = worker.recent_events.get(event_id) if worker is not None else None
            pictured = worker is not None and event_id in worker.event_pictures
            out.append(
                {
                    "id": event_id,
                    "camera": cam_id,
                    "started_at": iso_utc(int(event_id.split("-", 1)[0]) / 1000),
                    "ended_at": iso_utc(written),
                    "size": size,
                    "url": f"/api/events/{event_id}/clip.mp4",
                    "snapshot_url": f"/api/events/{event_id}/snapshot.jpg" if pictured else None,
                    "label": payload.get("label") if payload is not None else None,
                }
            )
        return out

    def _find_clip(self, event_id: str) -> Path | None:
        """The clip file of ``event_id``: in a running camera's clips directory (its own
        ``detect.clips.dir`` included), else under the default root (cameras gone). Blocking."""
        from .detect.clips import EVENT_ID, find_clip

        if not EVENT_ID.match(event_id):
            return None
        for worker in list(self._parts.cameras.detectors.values()):
            recorder = worker.clip_recorder
            if recorder is not None and (recorder.dir / f"{event_id}.mp4").is_file():
                return recorder.dir / f"{event_id}.mp4"
        root = self._parts.cameras.clip_root
        return find_clip(root, event_id) if root is not None else None

    def event_clip(self, event_id: str) -> Path:
        path = self._find_clip(event_id)
        if path is None:
            raise NotFound(f"no clip of event {event_id}")
        return path

    def _mediamtx(self) -> MediamtxService:
        if self._parts.mediamtx is None:
            raise MediamtxDisabled("MediaMTX is not enabled (mediamtx.enabled)")
        return self._parts.mediamtx

    def recording(self, cam_id: str) -> bool:
        self._camera(cam_id)
        return self._mediamtx().recording(cam_id)

    async def recordings(self, cam_id: str) -> list[str]:
        from .mediamtx.breaker import CircuitOpen  # MediaMTX's client (aiohttp) only when enabled
        from .mediamtx.client import MediamtxError

        self._camera(cam_id)
        media = self._mediamtx()
        try:
            return await media.recordings(cam_id)
        except (CircuitOpen, MediamtxError) as err:
            raise MediamtxDown(f"MediaMTX cannot list recordings now: {err}") from None

    def mediamtx_available(self) -> bool | None:
        media = self._parts.mediamtx
        return None if media is None else media.available

    def mediamtx_status(self) -> dict[str, Any]:
        media = self._parts.mediamtx
        return {"status": "disabled"} if media is None else media.status()

    # -- the bridge

    def bridge_state(self) -> dict[str, Any]:
        return self._parts.bridge_state()

    def discovery(self) -> bool:
        current = self._parts.instance
        return self._parts.config.mqtt.discovery and not (current is not None and current.ha_discovery is False)

    def mqtt_settings(self) -> dict[str, Any]:
        mqtt = self._parts.config.mqtt
        return {
            "base_topic": mqtt.base_topic,
            "node_id": self._parts.node_id,
            "discovery": self.discovery(),
            "discovery_configured": mqtt.discovery,
            "discovery_prefix": mqtt.discovery_prefix,
            "connected": self._parts.mqtt_connected(),
        }

    def config_error(self) -> list[str] | None:
        reloader = self._parts.reloader
        return None if reloader is None or reloader.config_error is None else list(reloader.config_error)

    def mediamtx_summary(self) -> dict[str, Any] | None:
        media = self._parts.mediamtx
        return None if media is None else {"available": media.available, "version": media.info.get("version")}

    def mqtt_connected(self) -> bool:
        return self._parts.mqtt_connected()

    def cluster_camera(self, cam_id: str) -> tuple[CameraConfig, dict[str, Any]]:
        node = self._parts.node
        if node is None:
            raise NotFound(f"no camera {cam_id}")
        config, info = node.remote(cam_id)
        return config, info

    def cluster_camera_ids(self) -> list[str]:
        node = self._parts.node
        if node is None:
            return []
        here = self._parts.cameras.cameras
        return sorted(cam_id for cam_id in node.rows() if cam_id not in here)

    def cluster_fields(self, cam_id: str) -> dict[str, Any]:
        member = self._parts.cluster
        if member is None:
            return {}
        return {"owner": member.name, "epoch": member.epoch(cam_id)}

    def cluster_state(self) -> dict[str, Any] | None:
        member = self._parts.cluster
        if member is None:
            return None
        return {
            "member": member.name,
            "connected": member.connected,
            "leases": len(member.held),
            "renew_failures": member.renew_failures,
            "failovers": member.failovers,
        }

    def registry_open(self) -> bool:
        return self._parts.registry is not None and self._parts.store is not None

    async def store_healthy(self) -> bool:
        store = self._parts.store
        return store is not None and await asyncio.to_thread(store.healthy)

    def usb_devices(self) -> dict[str, Any]:
        monitor = self._parts.usb
        if monitor is None:
            return {"discovery": "off", "devices": []}
        devices = [
            {**dev.as_event(), "camera": monitor.camera_of(dev)}
            for dev in sorted(monitor.present.values(), key=lambda d: d.node)
        ]
        return {"discovery": monitor.config.discovery, "devices": devices}

    # -- metrics

    def snapshot_counters(self) -> dict[str, tuple[int, int]]:
        return {cam_id: (w.count, w.total_bytes) for cam_id, w in list(self._parts.cameras.snapshots.items())}

    def ring_bytes(self) -> dict[str, tuple[int, int, int]]:
        out = {}
        for cam_id, camera in list(self._parts.cameras.cameras.items()):
            streams = camera.streams  # every stream's rings (one per stream)
            out[cam_id] = (
                sum(s.keyframes.bytes for s in streams if s.keyframes is not None),
                sum(s.packets.bytes + s.packets.recording_bytes for s in streams if s.packets is not None),
                camera.config.event_snapshot.max_memory_mb * 1024 * 1024,
            )
        return out

    def mqtt_counters(self) -> tuple[int, int]:
        return self._parts.mqtt_counters()

    def detection_stats(self) -> dict[str, Any]:
        return {cam_id: w.stats for cam_id, w in list(self._parts.cameras.detectors.items())}

    def mediamtx_metrics(self) -> dict[str, Any] | None:
        from .mediamtx.breaker import BreakerState

        media = self._parts.mediamtx
        if media is None:
            return None
        return {
            "up": media.available,
            "circuit_open": media.breaker.state is not BreakerState.CLOSED,
            "api_requests": media.client.requests,
            "reconciles": media.reconciles,
            "cameras": {cam_id: media.camera_info(cam_id) for cam_id in media.known_cameras()},
        }

    def part_collectors(self) -> list[Any]:
        from .timelapse.metrics import TimelapseCollector

        return [TimelapseCollector(lambda: self._parts.timelapses)]

    # -- timelapses

    def _timelapses(self) -> TimelapseManager:
        manager = self._parts.timelapses
        if manager is None:
            raise NotRunning("timelapses are not running yet")
        return manager

    def timelapses(self) -> list[dict[str, Any]]:
        manager = self._timelapses()
        return [manager.view(rt) for rt in list(manager.timelapses.values())]

    def timelapse_states(self) -> list[tuple[str, dict[str, Any]]] | None:
        manager = self._parts.timelapses
        if manager is None:
            return None
        return [(rt.spec.display_name, rt.status()) for rt in list(manager.timelapses.values())]

    def timelapse(self, tl_id: str) -> dict[str, Any]:
        manager = self._timelapses()
        return manager.view(manager.get(tl_id))

    async def timelapse_frames(self, tl_id: str, offset: int, limit: int) -> tuple[int, list[Any]]:
        manager = self._timelapses()
        rt = manager.get(tl_id)
        rows = await asyncio.to_thread(manager.archive.frames, rt.id, offset, limit)
        total = (await asyncio.to_thread(manager.archive.frame_stats, rt.id))[0]
        return total, rows

    async def timelapse_videos(self, tl_id: str) -> list[Any]:
        manager = self._timelapses()
        return await asyncio.to_thread(manager.archive.videos, manager.get(tl_id).id)

    async def timelapse_frame(self, tl_id: str, frame_id: int) -> Path:
        manager = self._timelapses()
        rt = manager.get(tl_id)
        row = await asyncio.to_thread(manager.archive.frame, rt.id, frame_id)
        if row is None:
            raise NotFound(f"timelapse {rt.id} has no frame {frame_id}")
        path = manager.archive.path(row.path)
        self._on_another_disk(manager, path, "frame", row.owner)
        return path

    @staticmethod
    def _on_another_disk(manager: TimelapseManager, path: Path, what: str, owner: str | None) -> None:
        """Cluster mode without a shared ``timelapse.storage``: raise NotFound naming the bridge
        whose disk holds the missing file ``path`` (``owner``, the row's); nothing otherwise."""
        from .timelapse.shared import SharedTimelapseArchive

        archive = manager.archive
        if not isinstance(archive, SharedTimelapseArchive) or archive.shared_storage or path.is_file():
            return
        if owner is not None and owner != archive.member:
            raise NotFound(f"{what} is on bridge {owner}'s disk (no shared timelapse.storage)")

    async def timelapse_video(self, tl_id: str, video_id: int) -> tuple[Path, Path | None]:
        manager = self._timelapses()
        rt = manager.get(tl_id)
        row = await asyncio.to_thread(manager.archive.video, rt.id, video_id)
        if row is None:
            raise NotFound(f"timelapse {rt.id} has no video {video_id}")
        thumb = manager.archive.path(row.thumbnail) if row.thumbnail else None
        path = manager.archive.path(row.path)
        if not path.is_file():
            owner = await asyncio.to_thread(manager.archive.video_owner, rt.id, video_id)
            self._on_another_disk(manager, path, "video", owner)
        return path, thumb

    def timelapse_thumbnail(self, tl_id: str) -> Path:
        manager = self._timelapses()
        return manager.thumbnail_path(manager.get(tl_id).id)


class LiveControl:
    """:class:`~bridge.core.control.BridgeControl` over :class:`Parts`."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def _registry(self) -> Registry:
        if self._parts.registry is None:
            raise NotRunning("the camera registry is not running")
        return self._parts.registry

    def _known(self, cam_id: str) -> None:
        if cam_id not in self._parts.cameras.cameras:
            raise NotFound(f"no camera {cam_id}")

    # -- cameras

    async def add_camera(self, body: Any) -> str:
        return (await self._registry().add(body)).id

    async def check_camera(self, body: Any) -> CameraConfig:
        return await self._registry().check(body)

    async def update_camera(self, cam_id: str, changes: Any) -> str:
        return (await self._registry().update(cam_id, changes)).id

    async def remove_camera(self, cam_id: str) -> None:
        await self._registry().remove(cam_id)

    async def set_enabled(self, cam_id: str, enabled: bool) -> bool:
        return await self._parts.cameras.set_enabled(cam_id, enabled)

    def request_snapshot(self, cam_id: str) -> None:
        self._known(cam_id)
        self._parts.cameras.snapshots[cam_id].request()

    async def probe_camera(self, camera: CameraConfig) -> dict[str, Any]:
        from .capture.source import probe_stream
        from .errors import CaptureError

        try:
            info = await asyncio.to_thread(probe_stream, camera)
        except CaptureError as err:
            return {"ok": False, "error": str(err)}
        fps = round(info.rate, 2) if info.rate else None
        return {"ok": True, "codec": info.codec, "width": info.width, "height": info.height, "fps": fps}

    # -- detection, recording, discovery

    def detect_picture(self, image: Any, min_score: float) -> dict[str, Any]:
        from .detect.detector import load

        detector = load(self._parts.config.detect, shared=True)
        started = time.perf_counter()
        found = detector.detect(image, min_score)
        elapsed = time.perf_counter() - started
        height, width = image.shape[:2]
        return {
            "detector": detector.name,
            "width": width,
            "height": height,
            "inference_ms": round(elapsed * 1000, 1),
            "detections": [d.as_dict(width, height) for d in found],
        }

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        self._known(cam_id)
        worker = self._parts.cameras.detectors.get(cam_id)
        if worker is None:
            raise NotFound(f"camera {cam_id} has no detection")
        worker.set_enabled(enabled)

    async def set_recording(self, cam_id: str, recording: bool) -> None:
        self._known(cam_id)
        media = self._parts.mediamtx
        if media is None:
            raise MediamtxDisabled("MediaMTX is not enabled (mediamtx.enabled)")
        await media.set_recording(cam_id, recording)

    async def reload_config(self, source: str) -> dict[str, Any]:
        reloader = self._parts.reloader
        if reloader is None:
            raise Unavailable("the bridge was started without a configuration file: nothing to reload")
        return (await reloader.reload(source)).as_data()

    async def set_discovery(self, enabled: bool) -> None:
        config = self._parts.config
        if enabled and not config.mqtt.discovery:
            raise Conflict("discovery is off in the configuration (mqtt.discovery: false)")
        current = self._parts.instance or instance.Instance("0" * 32)
        updated = dataclasses.replace(current, ha_discovery=None if enabled else False)
        await asyncio.to_thread(instance.save, config.state_dir, updated)
        self._parts.instance = updated
        self._parts.bus.publish(DiscoverySwitched(enabled))

    # -- USB hot-plug

    def _usb_camera(self, device: UsbDeviceInfo) -> str | None:
        """The camera of a device: the one under its stable id, else one whose ``device`` is
        its node (directly or through a ``/dev/v4l/by-id`` link)."""
        cameras = self._parts.cameras.cameras
        if device.stable_id in cameras:
            return device.stable_id
        for cam_id, camera in cameras.items():
            node = camera.config.device
            if node and (node == device.node or os.path.realpath(node) == device.node):
                return cam_id
        return None

    async def usb_attached(self, device: UsbDeviceInfo, *, add: bool) -> str | None:
        sets = self._parts.cameras
        cam_id = self._usb_camera(device)
        media = self._parts.mediamtx
        if media is not None and device.formats:  # before the camera (re)starts: its path uses them
            media.formats[cam_id or device.stable_id] = list(device.formats)
        if cam_id is not None:
            camera = sets.cameras[cam_id]
            # a camera under the device's stable id follows its node; one configured with a
            # node or a /dev/v4l/by-id link keeps its own device setting
            node = device.node if cam_id == device.stable_id else camera.config.device
            if camera.state is CameraState.OFFLINE or camera.config.device != node:
                await sets.replace(dataclasses.replace(camera.config, device=node))
                _LOGGER.info("usb: %s is at %s: camera %s resumed", device.name, device.node, cam_id)
        elif add and self._parts.new_camera is not None:
            try:
                config = self._parts.new_camera(device.stable_id, {"name": device.name, "device": device.node})
            except ConfigError as err:
                _LOGGER.warning("usb: cannot add %s: %s", device.node, err)
            else:
                await sets.add(config)
                cam_id = device.stable_id
                _LOGGER.info("usb: %s at %s added as camera %s", device.name, device.node, cam_id)
        else:
            _LOGGER.info("usb: %s found at %s (id %s; usb.auto_add is off)", device.name, device.node, device.stable_id)
        self._parts.bus.publish(UsbAttached(device.as_event(), cam_id))
        return cam_id

    async def usb_detached(self, device: UsbDeviceInfo, camera: str | None) -> str | None:
        sets = self._parts.cameras
        # its camera: the one it fed, else one added since it appeared (an API camera)
        cam_id = camera or self._usb_camera(device)
        running = sets.cameras.get(cam_id) if cam_id is not None else None
        if running is not None and running.state is not CameraState.OFFLINE:
            await sets.set_offline(running.id, f"{device.node} unplugged")
        _LOGGER.info("usb: %s (%s) removed", device.node, device.stable_id)
        gone = running.id if running is not None else None
        self._parts.bus.publish(UsbDetached(device.as_event(), gone))
        return gone

    async def usb_missing(self, fed: Collection[str]) -> list[str]:
        sets, offline = self._parts.cameras, []
        for cam_id, camera in list(sets.cameras.items()):
            node = camera.config.device
            if (
                camera.config.kind != "usb"
                or not node
                or cam_id in fed
                or camera.state is CameraState.OFFLINE
                or os.path.exists(node)
            ):
                continue
            try:
                await sets.set_offline(cam_id, f"{node} not present")
            except NotFound as err:  # removed meanwhile
                _LOGGER.debug("usb: camera %s not reported offline: %s", cam_id, err)
            else:
                offline.append(cam_id)
        return offline

    # -- timelapses

    def _timelapses(self) -> TimelapseManager:
        manager = self._parts.timelapses
        if manager is None:
            raise NotRunning("timelapses are not running yet")
        return manager

    async def add_timelapse(self, body: Any) -> str:
        return (await self._timelapses().create(body)).id

    async def update_timelapse(self, tl_id: str, changes: Any) -> None:
        await self._timelapses().update(tl_id, changes)

    async def remove_timelapse(self, tl_id: str) -> None:
        await self._timelapses().remove(tl_id)

    async def timelapse_action(self, tl_id: str, action: str) -> None:
        manager = self._timelapses()
        if action == "on":
            from .timelapse.state import State

            action = "resume" if manager.get(tl_id).lifecycle is State.PAUSED else "start"
        await manager.act(tl_id, action)
