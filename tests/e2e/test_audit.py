"""The audit log beyond REST and JSON-RPC (tests/e2e/test_api_audit.py): MQTT commands through the
real broker and configuration reloads (SIGHUP, file change, API) are one audit line each,
written to ``audit.file`` too, which rotates by size; never a secret in it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import aiohttp
import aiomqtt
import pytest
import yaml

from bridge.app import run
from bridge.config import AuditConfig, ConfigError, parse
from bridge.core import audit

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, recording, running
from ..peers import free_port
from .test_api_rpc import KEY_CONFIG, KEYS


def file_lines(path: Path) -> list[dict]:
    """The audit file's lines (``<ISO time> {json}``) as objects."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stamp, _, body = line.partition(" ")
        assert stamp.endswith("Z") and "T" in stamp, line
        found.append(json.loads(body))
    return found


async def wait_lines(path: Path, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(lines := file_lines(path)) < count:
        assert time.monotonic() < deadline, f"{len(lines)} audit lines of {count}: {lines}"
        await asyncio.sleep(0.05)
    return lines


async def test_mqtt_commands_are_audit_lines_in_the_audit_file(broker, rtsp, prefix, tmp_path):
    log = tmp_path / "audit.log"
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}, "locked": {"url": secret_url},
                                                 "watch": {"url": rtsp.url, "detect": {"enabled": True}}},
                         api={"auth": "required", "keys": KEY_CONFIG}, sections={"audit": {"file": str(log)}})
    commands = [
        ("cam/enabled/set", b"OFF"),
        ("cam/enabled/set", b"ON"),
        ("cam/enabled/set", CAMERA_PASSWORD.encode()),  # no command: its payload is not kept
        ("nope/enabled/set", b"ON"),
        ("cam/snapshot/set", b""),
        ("watch/detect/set", b"OFF"),
        ("cam/detect/set", b"ON"),  # the camera has no detection
        ("timelapse/nope/set", b"start"),
    ]
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/bridge/availability") if m.payload == b"online"],
                       30, "the bridge subscribed")
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for done, (topic, payload) in enumerate(commands, 1):
                await client.publish(f"{prefix}/{topic}", payload, qos=1)
                await wait_lines(log, done)  # one at a time: a switch runs as a task
    lines = file_lines(log)
    assert [(e["via"], e["who"], e["what"], e["camera"], e["value"], e["result"]) for e in lines] == [
        ("mqtt", "mqtt", "cameras.set_enabled", "cam", "OFF", "ok"),
        ("mqtt", "mqtt", "cameras.set_enabled", "cam", "ON", "ok"),
        ("mqtt", "mqtt", "cameras.set_enabled", "cam", None, "invalid"),
        ("mqtt", "mqtt", "cameras.set_enabled", "nope", "ON", "not_found"),
        ("mqtt", "mqtt", "cameras.snapshot_now", "cam", None, "ok"),
        ("mqtt", "mqtt", "cameras.set_detection", "watch", "OFF", "ok"),
        ("mqtt", "mqtt", "cameras.set_detection", "cam", "ON", "not_found"),
        ("mqtt", "mqtt", "timelapses.action", None, "start", "not_found"),
    ]
    assert [e["topic"] for e in lines] == [f"{prefix}/{topic}" for topic, _ in commands]
    assert lines[-1]["timelapse"] == "nope" and all(e["client"] is None for e in lines)
    text = log.read_text(encoding="utf-8")
    assert CAMERA_PASSWORD not in text and CAMERA_USER not in text
    assert not any(key in text for key in KEYS.values())


def config_text(broker, prefix, rtsp, tmp_path: Path, interval: int, port: int) -> str:
    return yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status"},
        "api": {"port": port, "auth": "required", "keys": KEY_CONFIG},
        "data_dir": str(tmp_path / "data"),
        "audit": {"file": str(tmp_path / "audit.log")},
        "cameras": {"door": {"url": rtsp.url, "snapshot": {"interval": interval}}},
    })


async def test_each_reload_is_one_audit_line_saying_who_and_what(broker, rtsp, prefix, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bridge.audit")
    path, log = tmp_path / "config.yaml", tmp_path / "audit.log"
    port = free_port()
    text = config_text(broker, prefix, rtsp, tmp_path, 5, port)
    path.write_text(text)
    stop, hangup = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run(parse(text), stop, path=path, text=text, hangup=hangup))
    try:
        hangup.set()  # SIGHUP, as the signal handler sets it: the same file, nothing changes
        await wait_lines(log, 1)
        path.write_text(text.replace("interval: 5", "interval: 6"))  # the watch sees the file change
        await wait_lines(log, 2)
        path.write_text(text.replace("interval: 5", "intervall: 7"))  # rejected by the watch ...
        await wait_lines(log, 3)
        hangup.set()  # ... and by SIGHUP
        await wait_lines(log, 4)
        async with aiohttp.ClientSession() as http, http.post(  # as `camera-bridge reload` asks
                f"http://127.0.0.1:{port}/api/bridge/reload", headers={"X-API-Key": KEYS["admin"]}) as resp:
            assert resp.status == 200 and (await resp.json())["errors"]
        lines = await wait_lines(log, 5)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 60)
    assert [(e["via"], e["who"], e["what"], e["result"]) for e in lines[:4]] == [
        ("reload", "signal", "bridge.reload", "unchanged"),
        ("reload", "file", "bridge.reload", "applied"),
        ("reload", "file", "bridge.reload", "rejected"),
        ("reload", "signal", "bridge.reload", "rejected"),
    ]
    assert [e["source"] for e in lines[:4]] == ["SIGHUP", "file change", "file change", "SIGHUP"]
    assert lines[1]["changes"] == "cameras ~door" and lines[2]["errors"] == 1
    assert "intervall" not in log.read_text()  # the errors quote the file: only their number is kept
    api = lines[4]
    assert (api["via"], api["who"], api["client"], api["what"], api["result"], api["outcome"]) == (
        "rest", "api_key:admin-key", "127.0.0.1", "bridge.reload", 200, "rejected")
    assert len([r for r in caplog.records if r.name == "bridge.audit"]) == 5  # one line per reload
    assert not any(key in log.read_text() for key in KEYS.values())


def test_the_audit_file_rotates_by_size_and_keeps_its_backups(tmp_path):
    log = tmp_path / "audit.log"
    handler = audit.AuditFile()
    handler.apply(AuditConfig(file=str(log), max_bytes=4096, backups=2))
    try:
        for n in range(200):
            audit.record("rest", "api_key:admin-key", "127.0.0.1", "cameras.add", f"cam{n}", 201, method="POST")
    finally:
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1", "audit.log.2"]
    for name in ("audit.log", "audit.log.1", "audit.log.2"):
        assert (tmp_path / name).stat().st_size <= 4096
        assert all(e["what"] == "cameras.add" for e in file_lines(tmp_path / name))
    assert file_lines(log)[-1]["camera"] == "cam199"
    audit.record("rest", "x", None, "cameras.add", "after", 201)  # closed: no longer written
    assert file_lines(log)[-1]["camera"] == "cam199"


@pytest.mark.parametrize(("section", "words"), [
    ({"file": "/nonexistent-dir/audit.log"}, "audit.file: directory /nonexistent-dir does not exist"),
    ({"file": "."}, "audit.file"),
    ({"file": "/tmp/a.log", "max_bytes": 100}, "audit.max_bytes"),
    ({"file": "/tmp/a.log", "backups": 0}, "audit.backups"),
    ({"path": "/tmp/a.log"}, "audit.path"),
])
def test_audit_settings_are_checked_with_their_key_path(broker, prefix, section, words):
    with pytest.raises(ConfigError) as err:
        make_config(broker.port, prefix, {}, sections={"audit": section})
    assert words in str(err.value), str(err.value)


def test_an_audit_value_is_clipped_by_its_escaped_length_too():
    from bridge.core.audit import MAX_ESCAPED, clip

    wide = clip("\U0001d494" * 300)  # 12 characters each once JSON-escaped
    assert wide.endswith("…") and len(json.dumps(wide)) <= MAX_ESCAPED + 12
    assert clip("x" * 64) == "x" * 64 and clip("x" * 65) == "x" * 63 + "…"
