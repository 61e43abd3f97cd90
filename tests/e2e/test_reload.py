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
import yaml

from bridge.app import Bridge
from bridge.config import parse

from ..conftest import recording
from ..peers import REPO, free_port, retained


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
        data["cluster"] = {"dsn": "postgresql://127.0.0.1:1/x", "name": "a"}
        later = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert later.applied and later.restart_needed == ("cluster",)  # docs/cluster.md says why
        assert bridge.cameras["porch"] is porch


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


def _counters(bridge) -> dict[str, tuple[object, int]]:
    """Per camera: the running Camera object and its connection counter (both unchanged when
    the camera was not restarted)."""
    return {cam_id: (cam, cam.status.reconnects) for cam_id, cam in bridge.cameras.items()}


async def test_mqtt_topics_and_discovery_move_and_no_camera_restarts(broker, rtsp, prefix, tmp_path):
    """A new base topic and discovery prefix: the old retained discovery configs and state are
    cleared, everything is published under the new ones, and the cameras keep streaming."""
    path = tmp_path / "config.yaml"
    text = config_text(broker.port, prefix, rtsp.url, tmp_path / "data")
    path.write_text(text)
    async with recording(broker.port, prefix) as rec, \
            Bridge(parse(text), config_path=path, config_text=text) as bridge:
        await wait_for(lambda: all(c.status.state == "streaming" for c in bridge.cameras.values()), 20, "streaming")
        await rec.wait(lambda: rec.on(f"{prefix}/porch/snapshot"), 20, "a snapshot")
        before = await retained(broker.port, [f"{prefix}_ha/#", f"{prefix}/#"])
        old_configs = {t for t, p in before.items() if t.endswith("/config") and p}
        assert f"{prefix}_ha/camera/{prefix}/porch/config" in old_configs, old_configs
        cameras = _counters(bridge)

        data = yaml.safe_load(text)
        data["mqtt"]["base_topic"] = f"{prefix}/b"
        data["mqtt"]["discovery_prefix"] = f"{prefix}_ha/b"
        result = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert result.applied and result.restart_needed == ()
        await rec.wait(lambda: rec.on(f"{prefix}/b/porch/snapshot"), 20, "a snapshot under the new base topic")
        await rec.wait(lambda: rec.on(f"{prefix}/b/bridge/availability"), 10, "the bridge under the new base")
        after = await retained(broker.port, [f"{prefix}_ha/#", f"{prefix}/#"])
        assert not old_configs & set(after), "old discovery configs still retained"
        assert f"{prefix}/porch/status" not in after and f"{prefix}/bridge/state" not in after
        new_configs = {t: json.loads(p) for t, p in after.items() if t.endswith("/config")}
        assert new_configs and all(t.startswith(f"{prefix}_ha/b/") for t in new_configs)
        assert any(c.get("state_topic", "").startswith(f"{prefix}/b/porch/") for c in new_configs.values())
        assert after[f"{prefix}/b/bridge/availability"] == b"online"
        assert _counters(bridge) == cameras  # no camera restarted

        data["mqtt"]["discovery"] = False
        result = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert result.applied and result.restart_needed == ()
        # the old publisher cleared its configs before it disconnected
        left = await retained(broker.port, [f"{prefix}_ha/#"])
        assert not [t for t, p in left.items() if t.endswith("/config") and p], left.keys()
        since = time.monotonic()
        await rec.wait(lambda: rec.on(f"{prefix}/b/porch/snapshot", since), 20, "snapshots go on")
        assert _counters(bridge) == cameras


async def test_a_timelapse_change_restarts_that_timelapse_only(broker, rtsp, prefix, tmp_path):
    path = tmp_path / "config.yaml"
    extra = yaml.safe_dump({"timelapses": {"porch_tl": {"camera": "porch", "interval": 1},
                                           "door_tl": {"camera": "door", "interval": 1}}})
    text = config_text(broker.port, prefix, rtsp.url, tmp_path / "data", extra=extra)
    path.write_text(text)
    async with Bridge(parse(text), config_path=path, config_text=text) as bridge:
        manager = bridge.timelapses
        await wait_for(lambda: all(rt.frames >= 1 for rt in manager.timelapses.values()), 30, "a frame of each")
        porch_task = manager.timelapses["porch_tl"].capture_task
        door_task = manager.timelapses["door_tl"].capture_task
        cameras = _counters(bridge)

        data = yaml.safe_load(text)
        data["timelapses"]["door_tl"]["interval"] = 2
        data["timelapses"]["attic_tl"] = {"camera": "porch", "interval": 1, "autostart": False}
        result = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert result.applied and result.restart_needed == () and result.diff.sections == ("timelapses",)
        door = manager.timelapses["door_tl"]
        assert door.capture_task is not door_task and door_task.done()
        assert manager.settings(door).interval == 2 and door.capture_task is not None
        assert manager.timelapses["porch_tl"].capture_task is porch_task and not porch_task.done()
        assert manager.timelapses["attic_tl"].lifecycle == "created"
        frames = door.frames
        await wait_for(lambda: door.frames > frames, 30, "the restarted timelapse captures again")
        assert _counters(bridge) == cameras

        # the defaults every timelapse inherits: both restart; removing one stops it
        del data["timelapses"]["attic_tl"]
        data["timelapse"] = {"jpeg_quality": 70}
        result = await bridge.reloader.reload("test", yaml.safe_dump(data))
        assert result.applied and result.restart_needed == ()
        assert set(manager.timelapses) == {"porch_tl", "door_tl"}
        assert manager.timelapses["porch_tl"].capture_task is not porch_task and porch_task.done()
        assert manager.settings(manager.timelapses["porch_tl"]).jpeg_quality == 70
        assert _counters(bridge) == cameras
