"""Session fixtures: a real Mosquitto broker, a real RTSP server fed with a camera-like clip
made by ffmpeg from the shared footage, and helpers to run the bridge in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.app import Bridge
from bridge.config import Config, parse
from bridge.redact import REDACTOR

from .peers import PEDESTRIANS, REPO, Mosquitto, MqttRecorder, RtspServer, kept_alive, make_clip

#: the Home Assistant component's tests run in their own venv (scripts/test.sh), not here
collect_ignore = ["components"]

CAMERA_USER = "viewer"
CAMERA_PASSWORD = "Sup3r-S3cret-pw"


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once, in one line, when the test data folder is absent."""
    if not PEDESTRIANS.exists():
        pytest.exit(f"test data missing: {PEDESTRIANS} not found; put the test data folder at "
                    f"{REPO.parent / 'shared'} beside the checkout or set CAMERA_BRIDGE_TEST_DATA=DIR", returncode=2)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("peers")


@pytest.fixture(scope="session")
def clip(workdir: Path) -> Path:
    """1280x720, 25 fps, GOP 1 s (25 frames), no B-frames, H.264, 8 s."""
    return make_clip(workdir / "camera_720p_gop25.mp4")


@pytest.fixture(scope="session")
def broker(workdir: Path) -> Iterator[Mosquitto]:
    """A Mosquitto broker shared by the session (tests use unique topic prefixes)."""
    mosq = Mosquitto(workdir)
    mosq.start()
    yield mosq
    mosq.stop()


@pytest.fixture(scope="session")
def rtsp(clip: Path) -> Iterator[RtspServer]:
    """An RTSP server shared by the session (the gst server accepts any credentials)."""
    with kept_alive(RtspServer(clip)) as server:
        yield server


@pytest.fixture
def own_rtsp(clip: Path) -> Iterator[RtspServer]:
    """An RTSP server for one test, free to be killed and restarted."""
    server = RtspServer(clip)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_broker(workdir: Path) -> Iterator[Mosquitto]:
    """A broker for one test, free to be restarted (no persistence: retained state is lost)."""
    mosq = Mosquitto(workdir)
    mosq.start()
    yield mosq
    mosq.stop()


@pytest.fixture
def prefix() -> str:
    """A unique topic prefix per test."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    yield
    REDACTOR.clear()


def make_config(port: int, prefix: str, cameras: dict[str, Any], *, api: dict[str, Any] | None = None,
                data_dir: Path | None = None, detect: dict[str, Any] | None = None,
                sections: dict[str, Any] | None = None, **mqtt: Any) -> Config:
    """A validated Config for a test: base topic ``{prefix}``, discovery prefix ``{prefix}_ha``
    (HA birth topic ``{prefix}_ha/status``), so tests sharing the broker stay apart.
    ``sections`` adds top-level sections (``mediamtx``, ``usb``, ...)."""
    data = {
        "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status",
                 "status_interval": 2, **mqtt},
        "cameras": cameras,
        "api": {"port": 0, **(api or {})},  # any free port: tests never clash on 8765
        "data_dir": str(data_dir or Path(tempfile.mkdtemp(prefix=f"{prefix}-data-"))),
        **(sections or {}),
    }
    if detect is not None:
        data["detect"] = detect
    return parse(yaml.safe_dump(data))


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[Bridge]:
    """Run a Bridge in this event loop for the duration of the block."""
    async with Bridge(config) as bridge:
        yield bridge


@contextlib.asynccontextmanager
async def recording(port: int, prefix: str) -> AsyncIterator[MqttRecorder]:
    """Record every message under the test's base topic and discovery prefix."""
    async with MqttRecorder(port, [f"{prefix}/#", f"{prefix}_ha/#"]) as rec:
        yield rec


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: Any = "") -> Any:
    """Poll ``predicate`` every 0.05 s until it returns something true, and return that; fail the
    test after ``timeout`` seconds, naming ``what`` (its value when it is a callable)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what or predicate}"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
