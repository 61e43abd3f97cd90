"""A fake :class:`~bridge.core.view.BridgeView` and :class:`~bridge.core.control.BridgeControl`
for the adapters' unit tests: a REST, JSON-RPC or MQTT handler is tested without a broker,
a camera or a running bridge. The fakes keep state in plain fields and record every command."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

import yaml

from bridge.config import CameraConfig, Config, camera_from_data, parse
from bridge.core.errors import MediamtxDisabled, NoSnapshot, NotFound, NotRunning
from bridge.core.events import EventBus


def make_config(cameras: dict[str, Any], **sections: Any) -> Config:
    """A validated configuration (the broker is never contacted)."""
    data = {"mqtt": {"host": "127.0.0.1", "base_topic": "unit", "discovery_prefix": "unit_ha"},
            "cameras": cameras, "api": {"port": 0},
            "data_dir": tempfile.mkdtemp(prefix="unit-"), **sections}
    return parse(yaml.safe_dump(data))


@dataclass
class FakeStatus:
    """A camera status (the fields the adapters read)."""

    state: str = "streaming"
    last_frame_at: float | None = None
    error: str | None = None
    frames: int = 0
    keyframes: int = 0
    decoded: int = 0
    decode_seconds: float = 0.0
    reconnects: int = 0

    def as_payload(self) -> dict[str, Any]:
        return {"state": self.state, "last_frame_at": None, "fps": None, "width": None, "height": None,
                "codec": None, "reconnects": self.reconnects, "error": self.error, "frames": self.frames,
                "keyframes": self.keyframes, "decoded": self.decoded}


@dataclass
class FakeSnapshot:
    jpeg: bytes
    width: int = 640
    height: int = 360
    taken_at: float = 1_800_000_000.0


class FakeView:
    """Cameras from a configuration, each ``streaming``, with what a test puts in the fields."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._events = EventBus()
        self.cameras: dict[str, CameraConfig] = dict(config.cameras)
        self.status: dict[str, FakeStatus] = {cam_id: FakeStatus() for cam_id in self.cameras}
        self.disabled: set[str] = set()
        self.snapshots: dict[str, FakeSnapshot] = {}
        self.recording_on: dict[str, bool] | None = None  #: None: MediaMTX not enabled
        self.detections: dict[str, dict[str, Any]] = {}

    @property
    def config(self) -> Config:
        return self._config

    @property
    def events(self) -> EventBus:
        return self._events

    def _known(self, cam_id: str) -> CameraConfig:
        if cam_id not in self.cameras:
            raise NotFound(f"no camera {cam_id}")
        return self.cameras[cam_id]

    def camera_ids(self) -> list[str]:
        return list(self.cameras)

    def camera(self, cam_id: str) -> CameraConfig:
        return self._known(cam_id)

    def camera_status(self, cam_id: str) -> FakeStatus:
        self._known(cam_id)
        return self.status[cam_id]

    def camera_source(self, cam_id: str) -> str:
        self._known(cam_id)
        return "yaml"

    def enabled(self, cam_id: str) -> bool:
        self._known(cam_id)
        return cam_id not in self.disabled

    def streams(self, cam_id: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        self._known(cam_id)
        return {}, None

    def cluster_camera(self, cam_id: str) -> tuple[CameraConfig, dict[str, Any]]:
        raise NotFound(f"no camera {cam_id}")  # a bridge alone

    def cluster_fields(self, cam_id: str) -> dict[str, Any]:
        return {}

    def cluster_camera_ids(self) -> list[str]:
        return []

    def snapshot(self, cam_id: str) -> FakeSnapshot:
        self._known(cam_id)
        if cam_id not in self.snapshots:
            raise NoSnapshot(f"camera {cam_id} has no snapshot yet (state connecting)", "connecting")
        return self.snapshots[cam_id]

    def detection(self, cam_id: str) -> dict[str, Any]:
        self._known(cam_id)
        if cam_id not in self.detections:
            raise NotFound(f"camera {cam_id} has no detection")
        return self.detections[cam_id]

    def recording(self, cam_id: str) -> bool:
        self._known(cam_id)
        if self.recording_on is None:
            raise MediamtxDisabled("MediaMTX is not enabled (mediamtx.enabled)")
        return self.recording_on.get(cam_id, False)

    def mediamtx_available(self) -> bool | None:
        return None if self.recording_on is None else True

    def bridge_state(self) -> dict[str, Any]:
        return {"id": "0" * 32, "cameras": {cam_id: s.state for cam_id, s in self.status.items()}}

    def discovery(self) -> bool:
        return True

    def mqtt_settings(self) -> dict[str, Any]:
        return {"base_topic": "unit", "node_id": "unit", "discovery": True, "discovery_configured": True,
                "discovery_prefix": "unit_ha", "connected": False}

    def mediamtx_summary(self) -> dict[str, Any] | None:
        return None

    def mqtt_connected(self) -> bool:
        return False

    def timelapses(self) -> list[dict[str, Any]]:
        raise NotRunning("timelapses are not running yet")

    def part_collectors(self) -> list[Any]:
        return []


@dataclass
class FakeControl:
    """Records each command as ``(method, args)``; ``fail`` makes the next command raise."""

    view: FakeView
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    fail: Exception | None = None
    #: what :meth:`probe_camera` answers
    probe_answer: dict[str, Any] = field(default_factory=lambda: {"ok": False, "error": "cannot open it"})

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            err, self.fail = self.fail, None
            raise err

    async def add_camera(self, body: Any) -> str:
        self._call("add_camera", body)
        return str(body["id"])

    async def check_camera(self, body: Any) -> CameraConfig:
        self._call("check_camera", body)
        options = {k: v for k, v in body.items() if k != "id"}
        return camera_from_data(str(body.get("id", "new")), options, "unit")

    async def probe_camera(self, camera: CameraConfig) -> dict[str, Any]:
        self._call("probe_camera", camera.id)
        return dict(self.probe_answer)

    async def set_enabled(self, cam_id: str, enabled: bool) -> bool:
        self.view.camera(cam_id)
        self._call("set_enabled", cam_id, enabled)
        (self.view.disabled.discard if enabled else self.view.disabled.add)(cam_id)
        return True

    def request_snapshot(self, cam_id: str) -> None:
        self.view.camera(cam_id)
        self._call("request_snapshot", cam_id)

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        self.view.detection(cam_id)
        self._call("set_detection", cam_id, enabled)

    async def set_recording(self, cam_id: str, recording: bool) -> None:
        self.view.recording(cam_id)
        self._call("set_recording", cam_id, recording)
        assert self.view.recording_on is not None
        self.view.recording_on[cam_id] = recording

    async def timelapse_action(self, tl_id: str, action: str) -> None:
        self._call("timelapse_action", tl_id, action)

