"""`camera-bridge discover`: ONVIF cameras found by WS-Discovery, their streams from ONVIF Media,
USB cameras, and `--add` into the config file (comments kept) or through a running bridge's API.

The ONVIF camera is the one fake (tests/onvif_stub.py: a WS-Discovery responder and a device/media
service); its stream URIs point at real RTSP test servers, which the tests then open. WS-Discovery
is multicast on the whole machine, so another test run's stub may answer too: tests name their own
device with --host (which keeps WS-Discovery's answer from it) or pick it out by its address."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from ..conftest import make_config, running
from ..onvif_stub import OnvifDevice, Profile
from ..peers import REPO, SHARED, RtspServer, kept_alive, make_clip

USER, PASSWORD = "admin", "Onvif-Secret-42"

CONFIG = """\
# my bridge
mqtt:
  host: 127.0.0.1   # the broker
  password: !env MQTT_PASSWORD
cameras:
  # the garage
  garage:
    url: "rtsp://192.0.2.9:554/live"
    snapshot: {interval: 5}
"""


def discover(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "discover", "--timeout", "1.5", "--no-usb", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60, env=env)


@pytest.fixture(scope="module")
def sub_rtsp(workdir: Path) -> Iterator[RtspServer]:
    """The camera's sub stream: 640x360, on its own real RTSP server."""
    with kept_alive(RtspServer(make_clip(workdir / "camera_360p_gop25.mp4", width=640, height=360),
                               mount="sub")) as server:
        yield server


@pytest.fixture
def camera(rtsp, sub_rtsp) -> Iterator[OnvifDevice]:
    profiles = [Profile("sub", "SubStream", 640, 360, sub_rtsp.url), Profile("main", "MainStream", 1280, 720, rtsp.url)]
    with OnvifDevice(USER, PASSWORD, profiles, name="Porch%20Cam", hardware="SC-100") as device:
        yield device


def own(device: OnvifDevice) -> tuple[str, str]:
    return "--host", f"127.0.0.1:{device.port}"


def test_lists_the_onvif_camera_with_main_and_sub_stream(camera, rtsp, sub_rtsp):
    result = discover("--user", USER, "--password", PASSWORD, *own(camera))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"porch_cam: Porch Cam (Stubcam SC-100) at 127.0.0.1:{camera.port}" in out
    main = f"rtsp://{USER}:***@127.0.0.1:{rtsp.port}/cam"
    sub = f"rtsp://{USER}:***@127.0.0.1:{sub_rtsp.port}/sub"
    assert f"main  MainStream 1280x720 H264  {main}" in out
    assert f"sub   SubStream 640x360 H264  {sub}" in out
    assert PASSWORD not in out + result.stderr
    assert {"GetProfiles", "GetStreamUri"} <= set(camera.requests)


def test_json_stream_urls_open_as_the_sizes_listed(camera):
    result = discover("--user", USER, "--json", env={"CAMERA_BRIDGE_ONVIF_PASSWORD": PASSWORD, "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    [cam] = [c for c in json.loads(result.stdout) if c["address"] == f"127.0.0.1:{camera.port}"]
    assert cam["name"] == "Porch Cam" and cam["error"] is None  # found by WS-Discovery alone
    assert [(s["role"], s["width"], s["height"]) for s in cam["streams"]] == [("main", 1280, 720), ("sub", 640, 360)]
    for stream in cam["streams"]:
        url = stream["url"].replace("***", PASSWORD)
        probed = subprocess.run([sys.executable, "-m", "bridge", "probe", url, "--json", "--snapshot", ""],
                                capture_output=True, text=True, cwd=REPO, timeout=60)
        facts = json.loads(probed.stdout)
        assert facts["ok"], facts
        assert (facts["width"], facts["height"]) == (stream["width"], stream["height"]), probed.stderr


def test_without_credentials_the_camera_is_listed_and_says_how_to_get_streams(camera):
    result = discover(*own(camera))
    assert result.returncode == 0, result.stderr
    assert f"porch_cam: Porch Cam (SC-100) at 127.0.0.1:{camera.port}" in result.stdout
    assert "give --user and --password to list its streams" in result.stdout
    assert "GetProfiles" not in camera.requests


def test_wrong_password_says_401(camera):
    result = discover("--user", USER, "--password", "Wr0ng-Pass-9", *own(camera))
    assert result.returncode == 0, result.stderr
    assert f"401 wrong credentials: 127.0.0.1:{camera.port} refused the user name and password" in result.stdout
    assert "Wr0ng-Pass-9" not in result.stdout


def test_add_writes_the_camera_into_the_config_keeping_comments(camera, rtsp, sub_rtsp, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    cfg.chmod(0o600)
    result = discover("--user", USER, "--password", PASSWORD, *own(camera), "--add", "porch_cam", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert f"added camera porch_cam to {cfg}" in result.stdout
    text = cfg.read_text(encoding="utf-8")
    assert text == CONFIG + (
        f"  # found by camera-bridge discover: ONVIF Stubcam SC-100 at 127.0.0.1:{camera.port}; "
        f"sub stream: rtsp://{USER}:***@127.0.0.1:{sub_rtsp.port}/sub\n"
        "  porch_cam:\n"
        "    name: Porch Cam\n"
        f"    url: rtsp://{USER}:{PASSWORD}@127.0.0.1:{rtsp.port}/cam\n")
    assert cfg.stat().st_mode & 0o777 == 0o600
    check = subprocess.run([sys.executable, "-m", "bridge", "check-config", "--config", str(cfg)],
                           capture_output=True, text=True, cwd=REPO, timeout=60, env={"MQTT_PASSWORD": "x" * 8})
    assert check.returncode == 0, check.stderr
    assert "porch_cam" in check.stdout

    again = discover("--user", USER, "--password", PASSWORD, *own(camera), "--add", "porch_cam", "--config", str(cfg))
    assert again.returncode == 1
    assert "cameras.porch_cam: a camera with this id exists already" in again.stderr
    assert cfg.read_text(encoding="utf-8") == text


def test_add_of_an_unknown_id_names_the_ones_found(camera, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    result = discover(*own(camera), "--add", "front", "--config", str(cfg))
    assert result.returncode == 1
    assert "no camera 'front' found (found: porch_cam)" in result.stderr
    assert cfg.read_text(encoding="utf-8") == CONFIG


async def test_add_through_the_api_starts_the_camera(camera, broker, prefix, rtsp):
    config = make_config(broker.port, prefix, {})
    async with running(config) as bridge:
        base = f"http://127.0.0.1:{bridge.api.port}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "discover", "--timeout", "1.5", "--no-usb", "--user", USER,
            "--password", PASSWORD, *own(camera), "--add", "porch_cam", "--as", "porch", "--api", base,
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert f"registered camera porch with {base} (/api/cameras/porch)" in out.decode()
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(f"{base}/api/cameras/porch") as resp:
                    body = await resp.json()
                if body["state"] == "streaming":
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.2)
        assert body["url"] == f"rtsp://{USER}:***@127.0.0.1:{rtsp.port}/cam"
        assert body["name"] == "Porch Cam"


def test_a_device_that_does_not_answer_ws_discovery_is_asked_by_its_address(rtsp):
    with OnvifDevice(USER, PASSWORD, [Profile("main", "Main", 1280, 720, rtsp.url)], announce=False) as device:
        result = discover("--user", USER, "--password", PASSWORD, "--json", *own(device))
    assert result.returncode == 0, result.stderr
    [cam] = json.loads(result.stdout)
    assert cam["address"] == f"127.0.0.1:{device.port}" and cam["model"] == "Stubcam SC-100"
    assert [s["url"] for s in cam["streams"]] == [f"rtsp://{USER}:***@127.0.0.1:{rtsp.port}/cam"]


def test_a_bad_host_option_is_named():
    result = discover("--host", "cam:http")
    assert result.returncode == 1
    assert "--host: expected HOST or HOST:PORT, got 'cam:http'" in result.stderr


def test_usb_cameras_are_listed_and_added_by_device(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    run = ["umockdev-run", "-d", str(SHARED / "usb" / "webcam_c270.umockdev"), "--",
           sys.executable, "-m", "bridge", "discover", "--no-onvif"]
    listed = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert listed.stdout.splitlines()[:3] == ["ONVIF cameras: none found", "USB cameras: 1",
                                              "  webcam_c270: Webcam C270 at /dev/video0"], listed.stderr
    added = subprocess.run([*run, "--add", "webcam_c270", "--as", "desk", "--config", str(cfg)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert added.returncode == 0, added.stderr
    assert cfg.read_text(encoding="utf-8").endswith(
        "  # found by camera-bridge discover: USB /dev/video0\n"
        "  desk:\n    name: Webcam C270\n    device: /dev/video0\n")


def test_add_needs_a_target():
    result = discover("--add", "porch_cam")
    assert result.returncode == 1
    assert "--add needs --config FILE or --api URL" in result.stderr
