"""`camera-bridge probe URL`: what a stream carries, or why it does not open, in words; the same
words in a camera's status and log (real RTSP servers, real refused ports and unresolvable hosts)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from bridge.camera import Camera
from bridge.status import CameraState

from ..peers import REPO, AuthRtspServer, free_port, kept_alive
from .test_capture import camera_config, wait_until

USER, PASSWORD = "admin", "Pr0be-Secret-77"


def probe(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "probe", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="module")
def auth_rtsp(clip: Path) -> Iterator[AuthRtspServer]:
    with kept_alive(AuthRtspServer(clip, USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung camera)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_probe_prints_codec_size_fps_gop_and_saves_a_snapshot(rtsp, tmp_path):
    out = tmp_path / "front.jpg"
    result = probe(rtsp.url, "--snapshot", str(out))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["codec"].strip() == "h264"
    assert lines["size"].strip() == "1280x720"
    assert 20 <= float(lines["fps"].split()[0]) <= 30  # the clip is 25 fps
    assert lines["gop"].strip() == "25 frames"
    assert lines["audio"].strip() == "none"
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (720, 1280, 3)


def test_probe_json_with_credentials_masks_the_password(auth_rtsp, tmp_path):
    url = auth_rtsp.url_with_credentials(USER, PASSWORD)
    result = probe(url, "--json", "--snapshot", str(tmp_path / "s.jpg"))
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["ok"] and facts["codec"] == "h264" and facts["gop"] == 25
    assert facts["source"] == f"rtsp://{USER}:***@127.0.0.1:{auth_rtsp.port}/cam"
    assert PASSWORD not in result.stdout + result.stderr


def test_probe_reports_an_audio_track(tmp_path):
    clip = tmp_path / "with_audio.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "3",
                    "-c:v", "libx264", "-g", "10", "-c:a", "aac", str(clip)], check=True)
    facts = json.loads(probe(str(clip), "--json", "--snapshot", "").stdout)
    assert facts["audio"] == "aac 16000 Hz 1 ch" and facts["snapshot"] is None


def _failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


def test_unresolvable_host_says_host_not_found():
    line = _failure(probe("rtsp://camera-that-does-not-exist.invalid:554/stream1"))
    assert "host not found: 'camera-that-does-not-exist.invalid' does not resolve" in line
    assert "Input/output error" not in line


def test_closed_port_says_connection_refused():
    port = free_port()
    line = _failure(probe(f"rtsp://127.0.0.1:{port}/stream1"))
    assert f"connection refused by 127.0.0.1:{port}" in line


def test_silent_server_says_timeout(silent_port):
    started = time.monotonic()
    line = _failure(probe(f"rtsp://127.0.0.1:{silent_port}/stream1", "--timeout", "1.5"))
    assert f"timeout: no answer from 127.0.0.1:{silent_port} in 1.5 s" in line
    assert time.monotonic() - started < 10


def test_wrong_path_says_404(rtsp):
    line = _failure(probe(f"rtsp://127.0.0.1:{rtsp.port}/stream9"))
    assert f"404 wrong path: 127.0.0.1:{rtsp.port} has no stream at '/stream9'" in line


def test_wrong_password_says_401_with_the_password_masked(auth_rtsp):
    result = probe(auth_rtsp.url_with_credentials(USER, "Not-The-Pa55word"))
    line = _failure(result)
    assert "401 wrong credentials" in line
    assert f"rtsp://{USER}:***@127.0.0.1:{auth_rtsp.port}/cam" in line
    assert "Not-The-Pa55word" not in result.stderr


def test_missing_credentials_say_401_credentials_needed(auth_rtsp):
    assert "401 credentials needed: add user:password@ to the URL" in _failure(probe(auth_rtsp.url))


def test_codec_without_decoder_says_unsupported_codec(clip, tmp_path):
    # an H.264 stream whose Matroska codec id FFmpeg does not know: no decoder for it
    mkv = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-t", "1", "-c:v", "copy",
                          "-f", "matroska", "-"], capture_output=True, check=True).stdout
    assert mkv.count(b"V_MPEG4/ISO/AVC") == 1
    weird = tmp_path / "weird.mkv"
    weird.write_bytes(mkv.replace(b"V_MPEG4/ISO/AVC", b"V_XXXXX/ISO/AVC"))
    assert "unsupported codec" in _failure(probe(str(weird)))


async def test_camera_status_and_log_say_host_not_found(caplog):
    caplog.set_level(logging.WARNING, logger="bridge.camera")
    async with Camera(camera_config("rtsp://camera-that-does-not-exist.invalid:554/stream1")) as cam:
        await wait_until(lambda: cam.state is CameraState.BACKOFF, what="backoff")
        assert "host not found: 'camera-that-does-not-exist.invalid' does not resolve" in cam.status.error
    assert any("host not found" in r.getMessage() for r in caplog.records)


async def test_camera_status_says_401_wrong_credentials(auth_rtsp):
    async with Camera(camera_config(auth_rtsp.url_with_credentials(USER, "Not-The-Pa55word"))) as cam:
        await wait_until(lambda: cam.state is CameraState.BACKOFF, what="backoff")
        assert "401 wrong credentials" in cam.status.error
        assert "Not-The-Pa55word" not in cam.status.error
