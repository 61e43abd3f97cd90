"""Fixtures of the Home Assistant component tests (run in the HA venv, see scripts/test.sh).

``fake_bridge`` is an in-memory stand-in for the bridge's API client (``api.CameraBridgeClient``),
patched where the integration and the config flow import it: tests set its cameras, make it
unreachable or refuse the key, and push events through its WebSocket channel. The one test
against a real bridge process is tests/components/camera_bridge/test_real_bridge.py.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import traceback
import warnings
from collections.abc import AsyncIterator, Generator
from typing import Any
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.camera_bridge import api, compat
from custom_components.camera_bridge.const import CONF_API_KEY, CONF_SSL, CONF_VERIFY_SSL, DOMAIN
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

BRIDGE_ID = "0123456789abcdef0123456789abcdef"
API_KEY = "cb_test-key-0123456789"
ENTRY_DATA = {CONF_HOST: "192.0.2.10", CONF_PORT: 8765, CONF_API_KEY: API_KEY, CONF_SSL: False,
              CONF_VERIFY_SSL: True}
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
MJPEG = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 15\r\n\r\n" + JPEG + b"\r\n"


def camera_dict(cam_id: str, name: str, state: str = "streaming", **extra: Any) -> dict[str, Any]:
    """A camera as ``GET /api/cameras`` shows it."""
    return {"id": cam_id, "name": name, "source": "yaml", "kind": "rtsp",
            "url": f"rtsp://viewer:***@192.0.2.20:554/{cam_id}", "state": state,
            "last_frame_at": "2026-11-21T08:09:26.376+00:00" if state == "streaming" else None,
            "fps": 5.0 if state == "streaming" else None, "width": 1280, "height": 720, "codec": "h264",
            "reconnects": 0, "error": None, "frames": 28, "keyframes": 28, "decoded": 3,
            "stream_urls": {}, **extra}


def timelapse_dict(tl_id: str, name: str, camera: str, state: str = "running", **extra: Any) -> dict[str, Any]:
    """A timelapse as ``GET /api/timelapses`` shows it."""
    return {"id": tl_id, "camera": camera, "state": state, "reason": None, "frames": 120, "discarded": 2,
            "last_capture_at": "2026-11-21T08:05:00.000+00:00", "next_capture_at": None, "last_score": 0.8,
            "render": None, "name": name, "origin": "api", "started_at": "2026-11-20T06:00:00.000+00:00",
            "bytes": 5000000, "discarded_by_reason": {"dark": 2}, "videos": 1, **extra}


class FakeResponse:
    """What ``client.open`` gives: an async context manager around a streamed answer."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers
        self.content = self

    async def read(self, size: int = -1) -> bytes:
        part, self.body = (self.body, b"") if size < 0 else (self.body[:size], self.body[size:])
        return part

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(self.body), size):
            yield self.body[i:i + size]

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeBridge:
    """What the integration's client would see from one bridge; ``calls`` records requests."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {
            "id": BRIDGE_ID, "version": "0.1.0", "started_at": "2026-11-21T08:00:00.000+00:00",
            "uptime_s": 42, "cameras": {}, "discovery": False,
            "mqtt": {"base_topic": "camera_bridge", "node_id": "camera_bridge", "discovery": False,
                     "discovery_configured": True, "discovery_prefix": "homeassistant"}}
        self.cams: dict[str, dict[str, Any]] = {
            "front_door": camera_dict("front_door", "Front door", detect={
                "enabled": True, "objects": {"person": {}}}),
            "garage": camera_dict("garage", "Garage", state="backoff", mediamtx={
                "path": "garage", "online": False, "readers": 2, "inbound_bytes": 0, "outbound_bytes": 0,
                "recording": False, "read_via": "direct"},
                                  error="cannot open rtsp://viewer:***@192.0.2.21:554/garage: No route to host"),
        }
        self.snapshots: dict[str, bytes] = {"front_door": JPEG}
        self.tls: dict[str, dict[str, Any]] = {"garden": timelapse_dict("garden", "Garden", "front_door")}
        self.videos: dict[str, list[dict[str, Any]]] = {"garden": [
            {"id": 3, "created_at": "2026-11-21T12:00:00.000+00:00", "frames": 240, "duration": 10.0,
             "size": 1234567, "width": 1280, "height": 720, "fps": 24,
             "first_at": "2026-11-20T06:00:00.000+00:00", "last_at": "2026-11-20T18:00:00.000+00:00",
             "url": "/api/timelapses/garden/videos/3", "thumbnail_url": "/api/timelapses/garden/videos/3/thumbnail.jpg"}]}
        #: camera id -> GET /api/cameras/{id}/clips (newest first)
        self.clips: dict[str, list[dict[str, Any]]] = {"front_door": [
            {"id": "1795248630000-12", "camera": "front_door", "started_at": "2026-11-21T08:10:30.000+00:00",
             "ended_at": "2026-11-21T08:10:51.200+00:00", "size": 108, "url": "/api/events/1795248630000-12/clip.mp4",
             "snapshot_url": None, "label": None},
            {"id": "1795248620500-7", "camera": "front_door", "started_at": "2026-11-21T08:10:20.500+00:00",
             "ended_at": "2026-11-21T08:10:41.000+00:00", "size": 108, "url": "/api/events/1795248620500-7/clip.mp4",
             "snapshot_url": "/api/events/1795248620500-7/snapshot.jpg", "label": "person"}]}
        self.files: dict[str, bytes] = {"/api/timelapses/garden/thumbnail.jpg": JPEG + b"-tl",
                                        "/api/timelapses/garden/videos/3": b"\x00\x00\x00\x18ftypmp42" + b"v" * 100,
                                        "/api/timelapses/garden/videos/3/thumbnail.jpg": JPEG + b"-video",
                                        "/api/events/1795248620500-7/clip.mp4": b"\x00\x00\x00\x18ftypisom" + b"c" * 96,
                                        "/api/events/1795248620500-7/snapshot.jpg": JPEG + b"-event",
                                        "/api/cameras/front_door/mjpeg": MJPEG,
                                        "/api/cameras/front_door/detection/person.jpg": JPEG + b"-person"}
        self.mediamtx: dict[str, Any] | None = {"status": "available", "version": "v1.9.0"}
        #: camera id -> GET /api/cameras/{id}/detection; None: a bridge without that route
        self.detect: dict[str, dict[str, Any]] | None = {"front_door": {
            "camera": "front_door", "enabled": True, "motion": False, "counts": {"person": 0}, "snapshots": [],
            "stats": {"fps": 5.0, "inference_ms": 21.4, "frames": 311, "runs": 96, "skipped": 215}}}
        self.reachable = True
        self.key_ok = True
        self.fail_with: Exception | None = None
        #: what POST /api/links answers instead of a link (a viewer key: CameraBridgeAuthError)
        self.links_error: Exception | None = None
        self.calls: list[tuple[str, Any]] = []
        self.queue: asyncio.Queue[api.BridgeEvent | None] = asyncio.Queue()
        self.push_open = asyncio.Event()

    def _check(self, what: str, arg: Any = None) -> None:
        self.calls.append((what, arg))
        if self.fail_with is not None:
            raise self.fail_with
        if not self.reachable:
            raise api.CameraBridgeConnectionError("Cannot connect to host 192.0.2.10:8765")
        if not self.key_ok:
            raise api.CameraBridgeAuthError("401 unauthorized: unknown API key")

    # -- the client's interface ------------------------------------------------------------
    base_url = "http://192.0.2.10:8765"

    async def bridge(self) -> api.BridgeInfo:
        self._check("bridge")
        info = copy.deepcopy(self.info)
        info["cameras"] = {k: v["state"] for k, v in self.cams.items()}
        return api.BridgeInfo.from_dict(info)

    async def cameras(self) -> list[api.Camera]:
        self._check("cameras")
        return [api.Camera.from_dict(copy.deepcopy(c)) for c in self.cams.values()]

    async def snapshot(self, camera_id: str, width: int | None = None) -> bytes:
        self._check("snapshot", (camera_id, width))
        if camera_id not in self.cams:
            raise api.CameraBridgeNotFoundError(f"404 not_found: no camera {camera_id}")
        if camera_id not in self.snapshots:
            raise api.CameraBridgeResponseError("503 no_snapshot", 503, "no_snapshot")
        return self.snapshots[camera_id]

    async def snapshot_version(self, camera_id: str) -> str | None:
        self._check("snapshot_version", camera_id)
        snap = self.snapshots.get(camera_id)
        return None if snap is None else f'"{hash(snap)}"'

    async def snapshot_now(self, camera_id: str) -> None:
        self._check("snapshot_now", camera_id)
        self.snapshots[camera_id] = JPEG + b"-fresh"

    async def timelapses(self) -> list[api.Timelapse]:
        self._check("timelapses")
        return [api.Timelapse.from_dict(copy.deepcopy(t)) for t in self.tls.values()]

    async def create_timelapse(self, body: dict[str, Any]) -> api.Timelapse:
        self._check("create_timelapse", body)
        tl_id = body.get("id") or body.get("name", "").lower().replace(" ", "_") or body["camera"]
        if tl_id in self.tls:
            raise api.CameraBridgeResponseError(f"409 conflict: timelapse {tl_id} already exists", 409, "conflict")
        if "interval" in body and not isinstance(body["interval"], (int, float)):
            raise api.CameraBridgeResponseError("400 invalid_config: timelapses.x.interval: expected a number",
                                                400, "invalid_config")
        self.tls[tl_id] = timelapse_dict(tl_id, body.get("name", tl_id), body["camera"])
        return api.Timelapse.from_dict(copy.deepcopy(self.tls[tl_id]))

    async def timelapse_action(self, timelapse_id: str, action: str) -> api.Timelapse:
        self._check("timelapse_action", (timelapse_id, action))
        tl = self.tls.get(timelapse_id)
        if tl is None:
            raise api.CameraBridgeNotFoundError(f"404 not_found: no timelapse {timelapse_id}")
        if action == "render":
            tl["render"] = {"state": "running", "trigger": "manual", "percent": 0.0, "frames": 0, "total": tl["frames"]}
        else:
            tl["state"] = {"start": "running", "resume": "running", "pause": "paused", "stop": "stopped"}[action]
        return api.Timelapse.from_dict(copy.deepcopy(tl))

    async def timelapse_videos(self, timelapse_id: str) -> list[dict[str, Any]]:
        self._check("timelapse_videos", timelapse_id)
        if timelapse_id not in self.tls:
            raise api.CameraBridgeNotFoundError(f"404 not_found: no timelapse {timelapse_id}")
        return copy.deepcopy(self.videos.get(timelapse_id, []))

    async def event_clips(self, camera_id: str) -> list[dict[str, Any]]:
        self._check("event_clips", camera_id)
        return copy.deepcopy(self.clips.get(camera_id, []))

    async def fetch(self, path: str) -> bytes:
        self._check("fetch", path)
        if path not in self.files:
            raise api.CameraBridgeNotFoundError(f"404 not_found: {path}")
        return self.files[path]

    def open(self, path: str, headers: dict[str, str] | None = None) -> FakeResponse:
        self.calls.append(("open", (path, headers)))
        body = self.files.get(path)
        if body is None:
            return FakeResponse(404, b"", {})
        if headers and headers.get("Range", "").startswith("bytes="):
            start, _, end = headers["Range"][6:].partition("-")
            part = body[int(start):int(end) + 1 if end else None]
            return FakeResponse(206, part, {"Content-Type": "video/mp4", "Content-Length": str(len(part)),
                                            "Content-Range": f"bytes {start}-{int(start) + len(part) - 1}/{len(body)}"})
        kind = ("image/jpeg" if path.endswith(".jpg") else
                "multipart/x-mixed-replace; boundary=frame" if path.endswith("/mjpeg") else "video/mp4")
        return FakeResponse(200, body, {"Content-Type": kind, "Content-Length": str(len(body)), "Accept-Ranges": "bytes"})

    async def signed_link(self, *, camera: str | None = None, event: str | None = None, kind: str = "snapshot",
                          expires_in: int = 3600) -> str:
        self._check("signed_link", {"camera": camera, "event": event, "kind": kind, "expires_in": expires_in})
        if self.links_error is not None:
            raise self.links_error
        path = {"event_snapshot": f"/api/events/{event}/snapshot.jpg", "event_clip": f"/api/events/{event}/clip.mp4",
                "snapshot": f"/api/cameras/{camera}/snapshot.jpg"}[kind]
        return f"{self.base_url}{path}?exp=1795300000&kid=0123456789abcdef&sig=signed-{kind}"

    async def detection(self, camera_id: str) -> dict[str, Any] | None:
        self._check("detection", camera_id)
        if self.detect is None:
            return None
        if camera_id not in self.detect:
            raise api.CameraBridgeNotFoundError(f"404 not_found: camera {camera_id} has no detection")
        return copy.deepcopy(self.detect[camera_id])

    async def set_detection(self, camera_id: str, enabled: bool) -> dict[str, Any]:
        self._check("set_detection", (camera_id, enabled))
        assert self.detect is not None
        self.detect[camera_id]["enabled"] = enabled
        if not enabled:
            self.detect[camera_id]["counts"] = dict.fromkeys(self.detect[camera_id]["counts"], 0)
        return copy.deepcopy(self.detect[camera_id])

    async def set_camera_enabled(self, camera_id: str, enabled: bool) -> api.Camera:
        self._check("set_camera_enabled", (camera_id, enabled))
        if camera_id not in self.cams:
            raise api.CameraBridgeNotFoundError(f"404 not_found: no camera {camera_id}")
        self.cams[camera_id].update(enabled=enabled, state="connecting" if enabled else "disabled", fps=None)
        return api.Camera.from_dict(copy.deepcopy(self.cams[camera_id]))

    async def mediamtx_health(self) -> dict[str, Any] | None:
        self._check("mediamtx_health")
        return copy.deepcopy(self.mediamtx)

    async def set_recording(self, camera_id: str, recording: bool) -> dict[str, Any]:
        self._check("set_recording", (camera_id, recording))
        self.cams[camera_id]["mediamtx"]["recording"] = recording
        return {"camera": camera_id, "recording": recording, "mediamtx": "available"}

    async def set_discovery(self, enabled: bool) -> api.BridgeInfo:
        self._check("set_discovery", enabled)
        self.info["discovery"] = enabled
        return await self.bridge()

    async def events(self, types: list[str] | None = None) -> AsyncIterator[api.BridgeEvent]:
        self._check("events")
        self.push_open.set()
        yield api.BridgeEvent(api.SUBSCRIBED, {}, 0.0)
        try:
            while True:
                event = await self.queue.get()
                if event is None:
                    raise api.CameraBridgeConnectionError("WebSocket closed by the bridge")
                yield event
        finally:
            self.push_open.clear()

    # -- test helpers ----------------------------------------------------------------------
    def push(self, type_: str, data: dict[str, Any]) -> None:
        """Send an event on the push channel (and apply a status change to the fake's state)."""
        if type_ == "camera.status" and data["camera"] in self.cams:
            self.cams[data["camera"]].update({k: v for k, v in data.items() if k != "camera"})
        self.queue.put_nowait(api.BridgeEvent(type_, data, 1795248621.0))

    def drop_push(self) -> None:
        """Close the push channel as a bridge going away does."""
        self.queue.put_nowait(None)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


class _Warnings(logging.Handler):
    """Log records of Home Assistant reporting a deprecated call of this integration."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if f"custom integration '{DOMAIN}'" in message or (DOMAIN in message and "deprecat" in message.lower()):
            self.found.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def no_deprecated_calls() -> Generator[None, None, None]:
    """Every test fails if Home Assistant reported a deprecated call of the integration ("Detected
    that custom integration 'camera_bridge' ...", a deprecated constant) or a DeprecationWarning
    was raised with the integration's code on the stack (a deprecated argument it passed to a
    library included), on whichever HA version runs the tests. (HA reports each deprecated call
    once per process: the first test that makes it fails.)"""
    handler = _Warnings()
    logging.getLogger().addHandler(handler)
    ours: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", DeprecationWarning)
        shown = warnings.showwarning

        def _show(message, category, filename, lineno, file=None, line=None) -> None:
            frames = [f for f in traceback.extract_stack() if "custom_components/camera_bridge" in f.filename]
            if issubclass(category, DeprecationWarning) and (frames or DOMAIN in str(message)):
                where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else f"{filename}:{lineno}"
                ours.append(f"{where}: {category.__name__}: {message}")
            else:  # not the integration's: on to pytest's summary as usual
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = _show
        try:
            yield
        finally:
            logging.getLogger().removeHandler(handler)
    assert not handler.found + ours, "deprecated calls of the integration:\n" + "\n".join(handler.found + ours)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Syrupy's snapshot with Home Assistant's serializer (snapshots/*.ambr), whichever fixture
    of that name the installed plugins provide."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


def get_device(hass: HomeAssistant, identifier: str, entry_id: str) -> dr.DeviceEntry | None:
    """The device of the entry with this Camera Bridge identifier (``{bridge_id}[_...]``)."""
    return compat.get_device(dr.async_get(hass), (DOMAIN, identifier), entry_id)


@pytest.fixture
def fake_bridge() -> Generator[FakeBridge, None, None]:
    """The fake bridge, patched in where the integration and the config flow build clients."""
    fake = FakeBridge()
    with patch("custom_components.camera_bridge.CameraBridgeClient", return_value=fake), \
            patch("custom_components.camera_bridge.config_flow.CameraBridgeClient", return_value=fake):
        yield fake


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A config entry for the fake bridge."""
    return MockConfigEntry(domain=DOMAIN, title="Camera Bridge 192.0.2.10", unique_id=BRIDGE_ID,
                           data=dict(ENTRY_DATA))


@pytest.fixture
async def init_integration(hass: HomeAssistant, fake_bridge: FakeBridge,
                           mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The integration set up against the fake bridge, push channel open."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await asyncio.wait_for(fake_bridge.push_open.wait(), 5)
    await hass.async_block_till_done()
    return mock_config_entry


def pytest_configure(config: pytest.Config) -> None:
    # the bridge's pytest settings (pyproject.toml) make aiohttp's string app keys an error;
    # Home Assistant 2024.3 itself uses them, so not here
    config.addinivalue_line("filterwarnings", "ignore::aiohttp.web_exceptions.NotAppKeyWarning")
    config.addinivalue_line("markers", "bridge_camera(options, clip): extra options of the real "
                            "bridge's camera, and of its clip (test_real_bridge.py)")
    config.addinivalue_line("markers", "bridge_top(sections): more top-level sections of the real "
                            "bridge's configuration (test_real_bridge.py)")
    config.addinivalue_line("markers", "bridge_feature(camera, top, reason): skip unless this "
                            "checkout's bridge accepts these camera options and sections")
