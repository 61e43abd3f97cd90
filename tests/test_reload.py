"""Hot reload against a real bridge, broker and RTSP camera: a bad file changes nothing and the
bridge state says why; a good one restarts only the changed camera; the history and rollback
restore an earlier file; SIGHUP reloads a running process and never kills it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from bridge.app import Bridge
from bridge.config import parse

from .conftest import recording
from .peers import REPO, free_port


def config_text(port: int, prefix: str, url: str, data_dir: Path, *, door_interval: float = 2,
                extra: str = "", api_port: int = 0) -> str:
    return yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix, "discovery_prefix": f"{prefix}_ha",
                 "ha_status_topic": f"{prefix}_ha/status", "status_interval": 2},
        "api": {"port": api_port},
        "data_dir": str(data_dir),
        "cameras": {"porch": {"url": url}, "door": {"url": url, "snapshot": {"interval": door_interval}}},
    }) + extra


async def wait_for(check, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_bad_file_changes_nothing_and_a_good_one_restarts_only_the_changed_camera(
        broker, rtsp, prefix, tmp_path):
    path = tmp_path / "config.yaml"
    text = config_text(broker.port, prefix, rtsp.url, tmp_path / "data", door_interval=3)
    path.write_text(text)
    async with recording(broker.port, prefix) as rec, \
            Bridge(parse(text), config_path=path, config_text=text) as bridge, aiohttp.ClientSession() as http:
        await wait_for(lambda: all(c.status.state == "streaming" for c in bridge.cameras.values()), 20, "streaming")
        porch, door = bridge.cameras["porch"], bridge.cameras["door"]
        url = f"http://127.0.0.1:{bridge.api.port}"

        path.write_text(text.replace("interval: 3", "intervall: 5"))
        async with http.post(f"{url}/api/bridge/reload") as resp:
            assert resp.status == 200
            bad = await resp.json()
        assert not bad["applied"] and any(e.startswith("cameras.door.snapshot.intervall") for e in bad["errors"])
        assert bridge.cameras["door"] is door and bridge.cameras["porch"] is porch  # nothing restarted
        async with http.get(f"{url}/api/bridge") as resp:
            assert (await resp.json())["config_error"] == bad["errors"]
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/bridge/state")
                                if json.loads(m.payload).get("config_error")], 10, "config_error on MQTT")

        reconnects = porch.status.reconnects
        path.write_text(text.replace("interval: 3", "interval: 7"))
        async with http.post(f"{url}/api/bridge/reload") as resp:
            good = await resp.json()
        assert good["applied"] and good["changes"]["changed"] == ["door"] and good["errors"] == []
        assert bridge.cameras["porch"] is porch and porch.status.reconnects == reconnects
        assert bridge.cameras["door"] is not door
        assert bridge.cameras["door"].config.snapshot.interval == 7
        async with http.get(f"{url}/api/bridge") as resp:
            assert (await resp.json())["config_error"] is None

        # the history lists both applied files; rollback writes the first back, the watch applies it
        history = subprocess.run([sys.executable, "-m", "bridge", "config", "history", "--config", str(path)],
                                 capture_output=True, text=True, timeout=30, cwd=REPO)
        lines = history.stdout.splitlines()
        assert history.returncode == 0 and len(lines) == 2, history
        assert lines[0].split()[0] == "1" and "started" in lines[0] and "cameras ~door" in lines[1]
        rollback = subprocess.run([sys.executable, "-m", "bridge", "config", "rollback", "1", "--config",
                                   str(path)], capture_output=True, text=True, timeout=30, cwd=REPO)
        assert rollback.returncode == 0, rollback.stderr
        await wait_for(lambda: "door" in bridge.cameras and bridge.cameras["door"].config.snapshot.interval == 3,
                       10, "rollback applied")
        assert bridge.cameras["porch"] is porch


async def test_cameras_added_and_removed_and_mqtt_settings_reconnect(broker, own_broker, rtsp, prefix, tmp_path):
    path = tmp_path / "config.yaml"
    text = config_text(broker.port, prefix, rtsp.url, tmp_path / "data")
    path.write_text(text)
    async with Bridge(parse(text), config_path=path, config_text=text) as bridge:
        porch = bridge.cameras["porch"]
        data = yaml.safe_load(text)
        del data["cameras"]["door"]
        data["cameras"]["attic"] = {"url": rtsp.url}
        data["mqtt"]["port"] = own_broker.port
        data["log_level"] = "debug"
        async with recording(own_broker.port, prefix) as rec:
            result = await bridge.reloader.reload("test", yaml.safe_dump(data))
            assert result.applied and result.diff.added == ("attic",) and result.diff.removed == ("door",)
            assert result.restart_needed == ()
            assert set(bridge.cameras) == {"porch", "attic"} and bridge.cameras["porch"] is porch
            # the MQTT client reconnected to the other broker: the bridge is online there
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/bridge/availability") if m.payload == b"online"],
                           15, "the bridge online on the new broker")
        data["mqtt"]["base_topic"] = f"{prefix}_other"
        later = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert later.applied and later.restart_needed == ("mqtt.base_topic",)


def test_sighup_reloads_a_running_bridge_and_never_kills_it(broker, rtsp, prefix, tmp_path):
    path = tmp_path / "config.yaml"
    api_port = free_port()
    text = config_text(broker.port, prefix, rtsp.url, tmp_path / "data", api_port=api_port)
    path.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--config", str(path)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        cameras = _poll_cameras(api_port, lambda ids: ids == {"porch", "door"}, 30)
        assert cameras == {"porch", "door"}
        path.write_text(text.replace("  porch:\n    url: " + rtsp.url + "\n", ""))
        proc.send_signal(signal.SIGHUP)
        assert _poll_cameras(api_port, lambda ids: ids == {"door"}, 15) == {"door"}
        proc.send_signal(signal.SIGHUP)  # nothing changed: still running
        time.sleep(1)
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err[-2000:]
    assert "SIGHUP: reloading the configuration" in err and "cameras -porch" in err


def _poll_cameras(port: int, done, timeout: float) -> set[str]:
    import urllib.request

    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/cameras", timeout=2) as resp:
                seen = {c["id"] for c in json.loads(resp.read())["cameras"]}
        except OSError:
            pass
        if done(seen):
            return seen
        time.sleep(0.2)
    return seen
