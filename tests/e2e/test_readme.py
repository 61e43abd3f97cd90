"""The README's commands, parsed out of README.md and run as a new user would run them (those that
can run here: a camera at 192.168.1.20 cannot): discover and add, probe a bad URL, check the
config, the readable topic watch, the test command without its data folder, the install."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from bridge import cli

from ..conftest import make_config, running
from ..onvif_stub import OnvifDevice, Profile
from ..peers import REPO, free_port, wait_port

README = (REPO / "README.md").read_text(encoding="utf-8")


def commands() -> list[list[str]]:
    """Every command line of the README: its indented blocks' lines and ``$ `` lines of its
    console blocks, split like a shell would, trailing comments dropped."""
    found = []
    for line in README.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            text = line.strip()
        elif line.startswith("$ "):
            text = line[2:]
        else:
            continue
        found.append(shlex.split(text, comments=True))
    return [c for c in found if c]


def console() -> list[tuple[list[str], str]]:
    """``(command, output)`` of each console block."""
    blocks = re.findall(r"```console\n\$ (.*?)\n(.*?)```", README, re.DOTALL)
    return [(shlex.split(cmd), out) for cmd, out in blocks]


def yaml_block() -> str:
    [block] = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    return block


def bridge_commands() -> list[list[str]]:
    return [c for c in commands() if c[0] == "camera-bridge"]


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a README ``camera-bridge`` command (this checkout's) in ``cwd``."""
    assert command[0] == "camera-bridge"
    return subprocess.run([sys.executable, "-m", "bridge", *command[1:]], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), **env})


def test_every_camera_bridge_command_of_the_readme_parses():
    assert len(bridge_commands()) >= 8
    for command in bridge_commands():
        cli._parser().parse_args(command[1:])  # exits (fails the test) on an unknown command or option


def test_help_is_plain_text_with_an_example_per_command():
    result = subprocess.run([sys.executable, "-m", "bridge", "--help"], capture_output=True, text=True, cwd=REPO)
    assert "``" not in result.stdout and ":class:" not in result.stdout
    names = re.findall(r"^    ([a-z-]+)\s", result.stdout.split("commands:")[1], re.MULTILINE)
    assert {"run", "check-config", "probe", "discover", "list-devices", "api-key"} <= set(names)
    for name in names:
        text = subprocess.run([sys.executable, "-m", "bridge", name, "--help"], capture_output=True,
                              text=True, cwd=REPO).stdout
        assert f"example:\n  camera-bridge {name}" in text, text


def test_discover_add_check_config_and_mediamtx_as_the_readme_says(tmp_path, rtsp):
    """The README's discover lines (user admin, password secret) against an ONVIF camera, the
    README's YAML as config.yaml, then its check-config and mediamtx-config lines."""
    (tmp_path / "config.yaml").write_text(yaml_block(), encoding="utf-8")
    discover = [c for c in bridge_commands() if c[1] == "discover"]
    assert len(discover) == 2 and "--add" in discover[1]
    user, password = discover[0][discover[0].index("--user") + 1], discover[0][discover[0].index("--password") + 1]
    cam_id = discover[1][discover[1].index("--add") + 1]
    with OnvifDevice(user, password, [Profile("main", "Main", 1280, 720, rtsp.url)], name="Porch%20Cam") as device:
        only = ["--timeout", "1.5", "--no-usb", "--host", f"127.0.0.1:{device.port}"]  # not another run's stub
        listed = run([*discover[0], *only], tmp_path)
        assert f"{cam_id}: Porch Cam" in listed.stdout, listed.stderr
        added = run([*discover[1], *only], tmp_path)
        assert added.returncode == 0, added.stderr
    for command in bridge_commands():
        if command[1] in ("check-config", "mediamtx-config", "list-devices"):
            result = run(command, tmp_path, MQTT_PASSWORD="mqtt-pass")
            assert result.returncode == 0, (command, result.stderr)
            if command[1] == "check-config":
                assert f"{cam_id}:" in result.stdout and "front_door:" in result.stdout


def test_console_examples_print_what_the_readme_shows(tmp_path):
    examples = console()
    assert examples
    for command, output in examples:
        result = run(command, tmp_path)
        assert (result.stdout + result.stderr).strip() == output.strip()


async def test_topic_watch_shows_readable_lines_and_no_jpeg(broker, prefix, tmp_path):
    [watch] = [c for c in commands() if c[0] == "mosquitto_sub" and "-T" in c]
    watch = [arg.replace("camera_bridge", prefix) for arg in watch] + ["-p", str(broker.port)]
    config = make_config(broker.port, prefix, {"demo": {"url": "lavfi:testsrc2=size=320x240:rate=5",
                                                        "snapshot": {"interval": 1}}})
    proc = await asyncio.create_subprocess_exec(*watch, stdout=asyncio.subprocess.PIPE)
    try:
        async with running(config):
            await asyncio.sleep(4)
    finally:
        proc.terminate()
        out, _ = await proc.communicate()
    lines = out.splitlines()
    assert any(line.startswith(f"{prefix}/demo/status ".encode()) for line in lines)
    assert not any(line.startswith(f"{prefix}/demo/snapshot ".encode()) for line in lines)
    assert b"\xff\xd8" not in out  # no JPEG start marker
    out.decode("utf-8")  # all text


def test_test_command_without_its_data_folder_says_what_is_missing(tmp_path):
    [command] = [c for c in commands() if c[0] == "scripts/test.sh"]
    started = time.monotonic()
    result = subprocess.run(["bash", str(REPO / command[0])], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "CAMERA_BRIDGE_TEST_DATA": str(tmp_path / "absent")})
    assert time.monotonic() - started < 1
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"{tmp_path / 'absent'}/media/pedestrians_720p.mp4 not found" in line
    assert "CAMERA_BRIDGE_TEST_DATA=DIR" in line and "../shared" in line


@pytest.mark.timeout(180)
def test_the_package_installs_the_camera_bridge_command(tmp_path):
    """What ``pipx install .`` / ``pip install .`` install: a wheel with the ``camera-bridge``
    console script and the API's OpenAPI document."""
    assert "pipx install ." in README
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info next to it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "bridge", source / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
                   check=True, timeout=170, cwd=tmp_path)
    [wheel] = tmp_path.glob("camera_bridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "[console_scripts]\ncamera-bridge = bridge.cli:main" in text
    assert "bridge/api/openapi.yaml" in names and "bridge/onvif.py" in names


def test_demo_prints_what_to_open_and_cleans_up_after_itself(tmp_path):
    """The README's first command, in a copy of the checkout whose set-up step is skipped (it
    installs apt packages and the venv) and whose .venv/bin/camera-bridge is this checkout's."""
    [command] = [c for c in commands() if c[0] == "scripts/demo.sh"]
    copy = tmp_path / "checkout"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(REPO / command[0], copy / command[0])
    (copy / "scripts" / "setup.sh").write_text("echo '[setup] skipped by the test'\n")
    shutil.copytree(REPO / "examples", copy / "examples")
    (copy / ".venv" / "bin").mkdir(parents=True)
    wrapper = copy / ".venv" / "bin" / "camera-bridge"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m bridge "$@"\n')
    wrapper.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    port, api = free_port(), free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", str(copy / command[0])], cwd=copy, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "MQTT_PORT": str(port),
                                                             "CAMERA_BRIDGE_API__PORT": str(api), "TMPDIR": str(temp)})
    try:
        wait_port(api, 30)
        snapshot = subprocess.run(["mosquitto_sub", "-p", str(port), "-t", "camera_bridge/demo/snapshot", "-C", "1",
                                   "-W", "20"], capture_output=True, timeout=30).stdout
        assert snapshot.startswith(b"\xff\xd8")
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/", timeout=10) as page:  # the web page
            assert page.status == 200 and b"<title>Camera Bridge</title>" in page.read()
        assert list(temp.iterdir()), "the demo broker's config is in TMPDIR while it runs"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"the demo did not stop on Ctrl-C: {log.read_text()[-3000:]}") from None
    out = log.read_text()
    assert f"open:  http://127.0.0.1:{api}/api/cameras " in out
    assert f"http://127.0.0.1:{api}/api/cameras/demo/snapshot.jpg" in out
    assert f"http://127.0.0.1:{api}/ " in out
    assert f"watch: mosquitto_sub -p {port} -v -t 'camera_bridge/#' -T 'camera_bridge/+/snapshot'" in out
    assert f"{copy}/.venv/bin/camera-bridge" in out
    assert "DEMO_LISTEN=0.0.0.0 scripts/demo.sh" in out
    assert list(temp.iterdir()) == [], "the demo left files behind"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), 1).close()  # its broker is gone
