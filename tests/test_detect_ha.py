"""Detection entities in a real Home Assistant (core 2024.3.3, see tests/test_ha_e2e.py): HA
creates the motion, switch, diagnostics, occupancy, count, image and event entities from the
bridge's discovery, reads their states through the value templates, and logs no complaint."""

from __future__ import annotations

import pytest

from .conftest import recording
from .peers import SHARED
from .test_ha_e2e import bridge_process, ha_python, run_probe, skip_if_asked, write_config


@pytest.mark.ha_e2e
@pytest.mark.timeout(180)
@skip_if_asked
async def test_home_assistant_creates_the_detection_entities(broker, rtsp, prefix, tmp_path):
    ha_python()
    cfg = write_config(tmp_path / "bridge.yaml", broker.port, prefix, {"street": {
        "url": rtsp.url, "detect": {"enabled": True, "model": str(SHARED / "models" / "yolox_nano.onnx")}}})
    with bridge_process(cfg, tmp_path / "bridge.log") as bridge:
        async with recording(broker.port, prefix) as rec:
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/street/person") if int(m.payload or 0) > 0],
                           40, "people counted")
            await rec.wait(lambda: rec.on(f"{prefix}/street/person/snapshot"), 10, "a person snapshot")
            await rec.wait(lambda: rec.on(f"{prefix}/street/detect/stats"), 15, "detection stats")
        probe = await run_probe(broker.port, f"{prefix}_ha", tmp_path / "probe",
                                "--expect-domain", "image", "--expect-domain", "event",
                                "--expect-domain", "switch", "--expect-domain", "binary_sensor")
        assert bridge.poll() is None, (tmp_path / "bridge.log").read_text()[-3000:]
    r = probe.result
    assert probe.rc == 0 and r.get("ok") is True, probe.context()
    states = {e["entity_id"]: e for e in r["entities"]}
    wanted = {"binary_sensor.street_motion", "switch.street_detect", "sensor.street_detect_fps",
              "sensor.street_inference_time", "binary_sensor.street_person_occupancy",
              "sensor.street_person_count", "image.street_person_snapshot", "event.street_person_event"}
    assert wanted <= set(states), (sorted(wanted - set(states)), probe.context())
    for entity_id in wanted:
        assert states[entity_id]["available"], states[entity_id]
        assert states[entity_id]["device_name"] == "Street"
    assert states["binary_sensor.street_person_occupancy"]["state"] == "on"
    assert states["binary_sensor.street_person_occupancy"]["device_class"] == "occupancy"
    assert int(states["sensor.street_person_count"]["state"]) > 0
    assert states["switch.street_detect"]["state"] == "on"
    assert states["binary_sensor.street_motion"]["state"] == "on"
    assert states["image.street_person_snapshot"]["state"] not in ("unknown", "unavailable")
    assert float(states["sensor.street_detect_fps"]["state"]) >= 0
    assert states["sensor.street_inference_time"]["unit_of_measurement"] == "ms"
    log = r["log"]
    ours = [line for line in log["errors"] + log["warnings"]
            if prefix in line or "homeassistant.components.mqtt" in line]
    assert ours == [], ours  # e.g. an event type HA refuses, a template that fails
