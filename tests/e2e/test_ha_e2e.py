"""End to end with a real Home Assistant: does HA create the bridge's entities from its MQTT
discovery, and serve the snapshots back as JPEG?

The bridge runs as a subprocess (``python -m bridge run --config CFG``) against the session
Mosquitto broker; ``../shared/ha_e2e/ha_probe.py`` starts a throwaway Home Assistant core 2024.3.3
on that broker and reports, as JSON, the entities, devices and camera images HA made from what it
found there (see ``../shared/ha_e2e/README.md``). Each probe run costs about 8-15 s.

Needs the HA venv (``/tmp/ha-e2e-venv``, or ``$HA_E2E_VENV``) made by ``../shared/ha_e2e/setup.sh``:
without it these tests fail, unless ``CAMERA_BRIDGE_SKIP_HA_E2E=1`` (then they are skipped).
Select or deselect them with ``-m ha_e2e`` / ``-m "not ha_e2e"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from bridge import __version__

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, recording
from ..peers import REPO, SHARED, retained

HA_E2E = SHARED / "ha_e2e"
PROBE = HA_E2E / "ha_probe.py"
SETUP = HA_E2E / "setup.sh"
HA_VENV = Path(os.environ.get("HA_E2E_VENV", "/tmp/ha-e2e-venv"))
PROBE_WAIT = 30  # probe --wait: entities normally appear 1-3 s after HA's MQTT client connects
PROBE_TIMEOUT = 90.0  # seconds for one probe run (normally 8-12 s; ~45 s when entities are missing)
TEST_PATTERN = "lavfi:testsrc2=size=640x480:rate=5"

skip_if_asked = pytest.mark.skipif(
    os.environ.get("CAMERA_BRIDGE_SKIP_HA_E2E") == "1",
    reason="CAMERA_BRIDGE_SKIP_HA_E2E=1",
)


def ha_python() -> Path:
    """The HA venv's python, or fail saying how to make the venv."""
    hass = HA_VENV / "bin" / "hass"
    if not hass.exists():
        pytest.fail(
            f"the Home Assistant e2e venv is missing ({hass} not found): run "
            f"../shared/ha_e2e/setup.sh (i.e. {SETUP}; ~2 min the first time), "
            "or set CAMERA_BRIDGE_SKIP_HA_E2E=1 to skip these tests", pytrace=False)
    if not PROBE.exists():
        pytest.fail(f"{PROBE} not found (the shared ha_e2e kit is missing)", pytrace=False)
    return HA_VENV / "bin" / "python"


# -- the bridge ----------------------------------------------------------------------------

def write_config(path: Path, port: int, prefix: str, cameras: dict[str, Any],
                 discovery_prefix: str | None = None) -> Path:
    """As conftest.make_config: base topic ``{prefix}``, discovery prefix ``{prefix}_ha``."""
    data = {
        "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix,
                 "discovery_prefix": discovery_prefix or f"{prefix}_ha", "status_interval": 2},
        "cameras": cameras,
        "api": {"port": 0}, "data_dir": str(path.parent / "data"),
    }
    path.write_text(yaml.safe_dump(data))
    return path


def bridge_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "bridge", "run", "--config", str(config)]


@contextlib.contextmanager
def bridge_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The bridge as a subprocess; SIGTERM (then SIGKILL) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(bridge_argv(config), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# -- the probe -----------------------------------------------------------------------------

class Probe:
    """One ha_probe.py run: its exit code, JSON (parsed and raw), stderr, and the files of the
    HA config dir it kept (copied to ``out`` for post-mortems, then the dir is removed)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rc: int | None = None
        self.raw = ""
        self.result: dict[str, Any] = {}
        self.stderr = ""
        self.secret_hits: list[str] = []

    def context(self) -> str:
        """What to print when an assertion fails."""
        r = self.result
        return (f"probe rc={self.rc} harness_error={r.get('harness_error')} "
                f"failed_expectations={r.get('failed_expectations')}\n"
                f"log errors: {r.get('log', {}).get('errors')}\n"
                f"probe stderr (tail):\n{self.stderr[-3000:]}\n(JSON and logs in {self.out})")

    def entity(self, entity_id: str) -> dict[str, Any]:
        found = [e for e in self.result.get("entities", []) if e["entity_id"] == entity_id]
        assert found, f"HA made no entity {entity_id}; it made {self.entity_ids()}\n{self.context()}"
        return found[0]

    def entity_ids(self) -> set[str]:
        return {e["entity_id"] for e in self.result.get("entities", [])}

    def device(self, name: str) -> dict[str, Any]:
        found = [d for d in self.result.get("devices", []) if d["name"] == name]
        assert len(found) == 1, f"device {name!r}: {self.result.get('devices')}"
        return found[0]

    def camera(self, entity_id: str) -> dict[str, Any]:
        found = [c for c in self.result.get("cameras", []) if c["entity_id"] == entity_id]
        assert found, f"no camera_proxy fetch for {entity_id}: {self.result.get('cameras')}"
        return found[0]


async def run_probe(port: int, discovery_prefix: str, out: Path, *args: str,
                    secrets: tuple[str, ...] = ()) -> Probe:
    """Run ha_probe.py (with ``--keep``), scan everything HA wrote for ``secrets``, then remove
    HA's config dir (its logs are copied to ``out`` first)."""
    python = ha_python()
    out.mkdir(parents=True, exist_ok=True)
    json_out = out / "probe.json"
    argv = [str(python), str(PROBE), "--broker-port", str(port),
            "--discovery-prefix", discovery_prefix, "--venv", str(HA_VENV),
            "--wait", str(PROBE_WAIT), "--json", str(json_out), "--keep", *args]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
    except TimeoutError:
        proc.terminate()  # the probe stops HA and the --after-start command on SIGTERM
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()  # HA still gets SIGTERM (PR_SET_PDEATHSIG)
            _, err = await proc.communicate()
    probe = Probe(out)
    probe.rc = proc.returncode
    probe.stderr = err.decode(errors="replace")
    (out / "probe.stderr").write_text(probe.stderr)
    if json_out.exists():
        probe.raw = json_out.read_text()
        probe.result = json.loads(probe.raw)
    config_dir = probe.result.get("config_dir")
    if config_dir and Path(config_dir).is_dir() and Path(config_dir).name.startswith("ha_e2e_"):
        try:
            for path in sorted(Path(config_dir).rglob("*")):
                if not path.is_file():
                    continue
                data = path.read_bytes()
                probe.secret_hits += [f"{path}" for s in secrets if s.encode() in data]
                if path.suffix == ".log" or ".log." in path.name:
                    shutil.copy(path, out / path.name)
        finally:
            shutil.rmtree(config_dir, ignore_errors=True)
    return probe


# -- what the bridge's discovery should make -----------------------------------------------

def expected_entities(node: str, cameras: dict[str, str]) -> dict[str, dict[str, Any]]:
    """entity_id -> what HA should report, for a bridge with node id ``node`` and ``cameras``
    (id -> device name). Entity ids come from the discovery ``object_id``."""
    bridge = "Camera bridge"
    diag = "diagnostic"
    expected: dict[str, dict[str, Any]] = {
        f"binary_sensor.{node}_connectivity": {
            "device_name": bridge, "friendly_name": f"{bridge} Connectivity",
            "device_class": "connectivity", "entity_category": diag},
        f"sensor.{node}_version": {
            "device_name": bridge, "friendly_name": f"{bridge} Version", "entity_category": diag},
        f"sensor.{node}_uptime": {
            "device_name": bridge, "friendly_name": f"{bridge} Uptime", "device_class": "duration",
            "unit_of_measurement": "s", "entity_category": diag},
    }
    for cid, name in cameras.items():
        expected |= {
            f"camera.{cid}": {"device_name": name, "friendly_name": name, "entity_category": None},
            f"binary_sensor.{cid}_connectivity": {
                "device_name": name, "friendly_name": f"{name} Connectivity",
                "device_class": "connectivity", "entity_category": diag},
            f"sensor.{cid}_fps": {
                "device_name": name, "friendly_name": f"{name} Frame rate",
                "unit_of_measurement": "fps", "entity_category": diag},
            f"sensor.{cid}_last_frame": {
                "device_name": name, "friendly_name": f"{name} Last frame",
                "device_class": "timestamp", "entity_category": diag},
            f"button.{cid}_snapshot": {
                "device_name": name, "friendly_name": f"{name} Take snapshot",
                "entity_category": None},
            f"switch.{cid}_enabled": {  # the camera's on/off
                "device_name": name, "friendly_name": f"{name} Camera", "entity_category": None},
        }
    for entity_id, exp in expected.items():
        # unique ids: {node}_{camera}_{key} and {node}_bridge_{key}
        object_id = entity_id.split(".", 1)[1]
        owner = next((c for c in cameras if object_id == c or object_id.startswith(f"{c}_")), None)
        if owner is None:
            exp["unique_id"] = f"{node}_bridge_{object_id.removeprefix(f'{node}_')}"
        else:
            exp["unique_id"] = f"{node}_{owner}_{object_id.removeprefix(owner).lstrip('_') or 'camera'}"
    return expected


def config_topic(discovery_prefix: str, node: str, entity_id: str) -> str:
    component, object_id = entity_id.split(".", 1)
    return f"{discovery_prefix}/{component}/{node}/{object_id}/config"


def check_entities(probe: Probe, expected: dict[str, dict[str, Any]]) -> None:
    """Exactly the expected MQTT entities, each available, from the mqtt platform, with the
    expected unique_id, device, name, device class, unit and entity category."""
    assert probe.entity_ids() == set(expected), (
        f"missing {sorted(set(expected) - probe.entity_ids())}, "
        f"unexpected {sorted(probe.entity_ids() - set(expected))}\n{probe.context()}")
    for entity_id, exp in expected.items():
        ent = probe.entity(entity_id)
        assert ent["available"] is True and ent["state"] != "unavailable", (entity_id, ent)
        assert ent["platform"] == "mqtt" and ent["in_entity_registry"], (entity_id, ent)
        assert ent["disabled_by"] is None, (entity_id, ent)
        for key in ("unique_id", "device_name", "friendly_name", "entity_category"):
            assert ent[key] == exp[key], (entity_id, key, ent[key], exp[key])
        for key in ("device_class", "unit_of_measurement"):
            assert ent[key] == exp.get(key), (entity_id, key, ent[key], exp.get(key))


def check_devices(probe: Probe, cameras: dict[str, tuple[str, str]], node: str) -> None:
    """The bridge device and one device per camera (name, model), each camera linked to the
    bridge with via_device."""
    bridge = probe.device("Camera bridge")
    assert bridge["identifiers"] == [["mqtt", f"{node}_bridge"]], bridge
    assert bridge["manufacturer"] == "Camera Bridge" and bridge["model"] == "Camera Bridge", bridge
    assert bridge["sw_version"] == __version__, bridge
    assert bridge["via_device"] is None, bridge
    assert sorted(d["name"] for d in probe.result["devices"]) == sorted(
        ["Camera bridge", *(name for name, _ in cameras.values())])
    for cid, (name, model) in cameras.items():
        dev = probe.device(name)
        assert dev["identifiers"] == [["mqtt", f"{node}_{cid}"]], dev
        assert dev["model"] == model and dev["manufacturer"] == "Camera Bridge", dev
        assert dev["via_device"] == "Camera bridge", (
            f"camera device {name!r} is not linked to the bridge device: {dev}")
        assert dev["via_device_id"] == bridge["id"], dev
        assert sorted(dev["entities"]) == sorted(
            [f"camera.{cid}", f"binary_sensor.{cid}_connectivity", f"sensor.{cid}_fps",
             f"sensor.{cid}_last_frame", f"button.{cid}_snapshot", f"switch.{cid}_enabled"]), dev


def check_discovery_rows(probe: Probe, discovery_prefix: str, node: str,
                         expected: dict[str, dict[str, Any]], *, retained_before: bool) -> None:
    """Every config topic the probe saw on the broker: valid JSON, made the expected entity, no
    HA warning or error naming it; ``retained`` tells whether it was on the broker before HA."""
    rows = {r["topic"]: r for r in probe.result["broker_discovery"]}
    want = {config_topic(discovery_prefix, node, e): e for e in expected}
    assert set(rows) == set(want), (sorted(set(rows) ^ set(want)), probe.context())
    for topic, entity_id in want.items():
        row = rows[topic]
        assert row["json_ok"] is True, row
        assert row["entity_id"] == entity_id, row
        assert row["unique_id"] == expected[entity_id]["unique_id"], row
        assert row["ha_log"] == [], f"HA complained about {topic}: {row['ha_log']}"
        assert row["retained"] is retained_before, row


def check_ha_log(probe: Probe, prefix: str) -> None:
    """No HA error or warning that names our topics, or comes from the MQTT integration."""
    log = probe.result["log"]
    ours = [line for line in log["errors"] + log["warnings"]
            if prefix in line or "homeassistant.components.mqtt" in line]
    assert ours == [], ours


# -- the tests -----------------------------------------------------------------------------

@pytest.mark.ha_e2e
@pytest.mark.timeout(180)
@skip_if_asked
async def test_home_assistant_creates_the_bridge_entities(broker, rtsp, prefix, tmp_path):
    """Bridge first (an RTSP camera with credentials and a test pattern), then HA: every entity,
    device and snapshot from the retained discovery, and the camera password nowhere in HA."""
    ha_python()  # fail before starting the bridge when the HA venv is missing
    dp = f"{prefix}_ha"
    node = prefix
    cfg = write_config(tmp_path / "bridge.yaml", broker.port, prefix, {
        "front_door": {"url": rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)},
        "test_pattern": {"url": TEST_PATTERN},
    })
    cameras = {"front_door": "Front door", "test_pattern": "Test pattern"}
    expected = expected_entities(node, cameras)
    bridge_log = tmp_path / "bridge.log"

    with bridge_process(cfg, bridge_log) as bridge:
        async with recording(broker.port, prefix) as rec:
            for cid in cameras:
                await rec.next_on(f"{prefix}/{cid}/snapshot", 0, timeout=30)
                # a status with a measured frame rate: what HA's fps sensor will read
                await rec.wait(lambda cid=cid: [
                    m for m in rec.on(f"{prefix}/{cid}/status")
                    if json.loads(m.payload).get("fps")], 15, f"{cid} status with fps")
            configs = [m.topic for m in rec.messages if m.topic.endswith("/config")]
            assert set(configs) >= {config_topic(dp, node, e) for e in expected}
        probe = await run_probe(
            broker.port, dp, tmp_path / "probe",
            "--expect-domain", "camera", "--expect-domain", "binary_sensor",
            "--expect-domain", "sensor", "--expect-domain", "button",
            "--fetch-camera", "--expect-jpeg",
            secrets=(CAMERA_PASSWORD, quote(CAMERA_PASSWORD, safe="")))
        assert bridge.poll() is None, f"the bridge died:\n{bridge_log.read_text()[-3000:]}"
    assert bridge.returncode == 0, f"bridge exit {bridge.returncode} on SIGTERM"

    r = probe.result
    assert probe.rc == 0 and r.get("ok") is True, probe.context()
    assert r["ha_version"] == "2024.3.3"
    assert r["failed_expectations"] == []
    assert all(c["state"] == "loaded" for c in r["mqtt_config_entry"]), r["mqtt_config_entry"]

    check_entities(probe, expected)
    # states that show HA parses the bridge's state topics with the value templates
    for cid, nominal in (("front_door", 25), ("test_pattern", 5)):
        assert probe.entity(f"binary_sensor.{cid}_connectivity")["state"] == "on"
        fps = float(probe.entity(f"sensor.{cid}_fps")["state"])
        assert 0.5 * nominal <= fps <= 1.5 * nominal, (cid, fps)
        last = datetime.fromisoformat(probe.entity(f"sensor.{cid}_last_frame")["state"])
        assert abs((datetime.now(UTC) - last).total_seconds()) < 120, (cid, last)
        assert probe.entity(f"camera.{cid}")["state"] == "idle"
        assert probe.entity(f"button.{cid}_snapshot")["state"] == "unknown"  # never pressed
    assert probe.entity(f"binary_sensor.{node}_connectivity")["state"] == "on"
    assert probe.entity(f"sensor.{node}_version")["state"] == __version__
    assert int(probe.entity(f"sensor.{node}_uptime")["state"]) >= 0

    check_devices(probe, {"front_door": ("Front door", "RTSP camera"),
                          "test_pattern": ("Test pattern", "Synthetic source")}, node)

    # the snapshots, fetched back through HA's camera_proxy
    for entity_id, size in (("camera.front_door", (1280, 720)),
                            ("camera.test_pattern", (640, 480))):
        cam = probe.camera(entity_id)
        assert cam["status"] == 200 and cam["content_type"] == "image/jpeg", cam
        assert cam["is_jpeg"] and cam["soi"] and cam["eoi"], cam
        assert (cam["width"], cam["height"]) == size, cam
        if cam.get("pil_decoded") is not None:
            assert cam["pil_decoded"] == f"JPEG {size[0]}x{size[1]} RGB", cam

    check_discovery_rows(probe, dp, node, expected, retained_before=True)
    check_ha_log(probe, prefix)

    # the camera password: nowhere in the probe's JSON (entities, HA's log lines), nowhere in
    # HA's config dir (full log, registries, restore state), not in the bridge's own log
    for secret in (CAMERA_PASSWORD, quote(CAMERA_PASSWORD, safe="")):
        assert secret not in probe.raw, "the camera password is in the probe JSON"
    assert probe.secret_hits == [], f"the camera password reached HA: {probe.secret_hits}"
    assert CAMERA_PASSWORD not in bridge_log.read_text(errors="replace")


@pytest.mark.ha_e2e
@pytest.mark.timeout(180)
@skip_if_asked
async def test_bridge_started_after_home_assistant(own_broker, prefix, tmp_path):
    """Nothing retained on the broker when HA starts; the bridge comes up after HA's birth
    message and its discovery (published on connect) still makes every entity.

    A broker of its own (nothing retained) with the default discovery prefix ``homeassistant``:
    HA publishes its birth message on ``homeassistant/status`` whatever its discovery prefix,
    and the probe only sees (and waits for) it on ``{discovery prefix}/status``."""
    ha_python()
    dp = "homeassistant"
    node = prefix
    cfg = write_config(tmp_path / "bridge.yaml", own_broker.port, prefix,
                       {"test_pattern": {"url": TEST_PATTERN}}, discovery_prefix=dp)
    expected = expected_entities(node, {"test_pattern": "Test pattern"})
    assert await retained(own_broker.port, ["#"], settle=0.3) == {}

    after = "exec " + shlex.join(bridge_argv(cfg))
    expect = [arg for e in sorted(expected) for arg in ("--expect-entity", e)]
    probe = await run_probe(own_broker.port, dp, tmp_path / "probe", "--after-start", after,
                            *expect, "--expect-jpeg")

    r = probe.result
    assert probe.rc == 0 and r.get("ok") is True, probe.context()
    assert r["ha_birth_seen"] is True, "no HA birth message seen before the bridge started"
    started = r["after_start"]
    assert started.get("how") == "SIGTERM" and started.get("returncode") == 0, (
        f"the bridge did not run until stopped / exit 0 on SIGTERM: {started}")
    assert r["timings"]["ha_birth_s"] < r["timings"]["expectations_met_s"]

    check_entities(probe, expected)
    check_devices(probe, {"test_pattern": ("Test pattern", "Synthetic source")}, node)
    cam = probe.camera("camera.test_pattern")
    assert cam["is_jpeg"] and (cam["width"], cam["height"]) == (640, 480), cam
    # not retained when the probe saw them: they were published live, after HA was up
    check_discovery_rows(probe, dp, node, expected, retained_before=False)
    check_ha_log(probe, prefix)

    # and retained from now on, for the next HA restart
    left = await retained(own_broker.port, [f"{dp}/+/{node}/+/config"], settle=0.5)
    assert set(left) == {config_topic(dp, node, e) for e in expected}, sorted(left)


@skip_if_asked
async def test_home_assistant_makes_the_mediamtx_entities(broker, prefix, tmp_path):
    """With MediaMTX (the contract-checked fake): HA makes the camera's Record switch (state from
    record/state) and the bridge's MediaMTX connectivity sensor (from the bridge state)."""
    from ..conftest import make_config, running
    from ..fake_mediamtx import FakeMediamtx

    ha_python()
    async with FakeMediamtx() as fake:
        config = make_config(broker.port, prefix, {"test_pattern": {"url": TEST_PATTERN}}, sections={
            "mediamtx": {"enabled": True, "api_url": fake.url, "health_interval": 0.5,
                         "record": {"enabled": True}}})
        async with running(config) as bridge:
            deadline = asyncio.get_running_loop().time() + 10
            while "test_pattern" not in fake.paths:
                assert asyncio.get_running_loop().time() < deadline, "path never added"
                await asyncio.sleep(0.1)
            switch, sensor = "switch.test_pattern_record", f"binary_sensor.{prefix}_mediamtx"
            probe = await run_probe(broker.port, f"{prefix}_ha", tmp_path / "probe",
                                    "--expect-entity", switch, "--expect-entity", sensor)
            assert bridge.mediamtx.available
    assert probe.rc == 0 and probe.result.get("ok") is True, probe.context()
    rec = probe.entity(switch)
    assert rec["state"] == "on" and rec["device_name"] == "Test pattern", rec
    assert rec["unique_id"] == f"{prefix}_test_pattern_record"
    med = probe.entity(sensor)
    assert med["state"] == "on" and med["device_class"] == "connectivity" and med["device_name"] == "Camera bridge", med
    check_ha_log(probe, prefix)
