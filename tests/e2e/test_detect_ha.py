"""Detection entities in a real Home Assistant (core 2024.3.3, see tests/e2e/test_ha_e2e.py): HA
creates the motion, switch, diagnostics, occupancy, count, image and event entities from the
bridge's discovery, reads their states through the value templates, receives the person events
on its event entity, and logs no complaint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ..conftest import recording
from ..peers import SHARED
from .test_ha_e2e import bridge_process, ha_python, run_probe, skip_if_asked, write_config

#: seconds HA keeps running after its MQTT client connected, while the looping pedestrians
#: clip brings people in and out of the picture (person ``new``/``end`` events)
WATCH = 30


@pytest.mark.ha_e2e
@pytest.mark.timeout(180)
@skip_if_asked
async def test_home_assistant_creates_the_detection_entities(broker, rtsp, prefix, tmp_path):
    """HA stays up ``WATCH`` seconds while people walk by: its event entity must fire (state =
    the time of the last event, ``unknown`` until one arrives). Events are not retained, so any
    HA saw was published while it listened."""
    ha_python()
    cfg = write_config(tmp_path / "bridge.yaml", broker.port, prefix, {"street": {
        "url": rtsp.url, "detect": {"enabled": True, "model": str(SHARED / "models" / "yolox_nano.onnx")}}})
    with bridge_process(cfg, tmp_path / "bridge.log") as bridge:
        async with recording(broker.port, prefix) as rec:
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/street/person") if int(m.payload or 0) > 0],
                           40, "people counted")
            await rec.wait(lambda: rec.on(f"{prefix}/street/person/snapshot"), 10, "a person snapshot")
            await rec.wait(lambda: rec.on(f"{prefix}/street/detect/stats"), 15, "detection stats")
            began, seen = datetime.now(UTC), len(rec.on(f"{prefix}/street/events"))
            probe = await run_probe(broker.port, f"{prefix}_ha", tmp_path / "probe",
                                    "--wait", str(WATCH), "--full-wait",
                                    "--expect-domain", "image", "--expect-domain", "event",
                                    "--expect-domain", "switch", "--expect-domain", "binary_sensor")
        assert bridge.poll() is None, (tmp_path / "bridge.log").read_text()[-3000:]
    r = probe.result
    assert probe.rc == 0 and r.get("ok") is True, probe.context()
    events = [json.loads(m.payload) for m in rec.on(f"{prefix}/street/events")[seen:]]
    person_events = [e for e in events if e["label"] == "person" and e["type"] in ("new", "end")]
    assert person_events, f"no person new/end event while HA ran: {events[:5]}"
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
    # a person event reached HA: the event entity fired (state = when), during this test
    fired = states["event.street_person_event"]["state"]
    assert fired not in ("unknown", "unavailable"), ("the event entity never fired", person_events[:3])
    assert began <= datetime.fromisoformat(fired) <= datetime.now(UTC), fired
    log = r["log"]
    ours = [line for line in log["errors"] + log["warnings"]
            if prefix in line or "homeassistant.components.mqtt" in line]
    assert ours == [], ours  # e.g. an event type HA refuses, a template that fails
