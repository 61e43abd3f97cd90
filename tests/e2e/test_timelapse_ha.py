"""A real Home Assistant makes a timelapse's entities from the bridge's discovery: a device per
timelapse linked to its camera's device, its sensors reading the state topic, the latest frame
as an image entity, the running switch, the render button and the problem sensor, with no
complaint in HA's log; a timelapse whose camera turns grey (a covered lens) after its first frames
is `degraded` in HA, its problem sensor on. (Same harness as test_ha_e2e.py.)"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from ..conftest import recording
from .test_ha_e2e import bridge_process, check_ha_log, ha_python, run_probe, skip_if_asked

TIMELAPSE_ENTITIES = {
    "sensor.timelapse_garden_state": ("State", "enum", None),
    "sensor.timelapse_garden_frames": ("Frames", None, "frames"),
    "sensor.timelapse_garden_last_capture": ("Last capture", "timestamp", None),
    "sensor.timelapse_garden_render_progress": ("Render progress", None, "%"),
    "image.timelapse_garden_image": ("Latest frame", None, None),
    "switch.timelapse_garden_running": ("Running", None, None),
    "button.timelapse_garden_render": ("Render now", None, None),
    "binary_sensor.timelapse_garden_problem": ("Problem", "problem", None),
}


def covered_clip(out):
    """6 s of a test pattern, then 90 s of grey (the lens covered): H.264, a keyframe a second."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5:duration=6",
                    "-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=5:duration=90", "-filter_complex",
                    "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264", "-preset", "veryfast", "-g", "5",
                    "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


@pytest.mark.ha_e2e
@pytest.mark.timeout(180)
@skip_if_asked
async def test_home_assistant_creates_the_timelapse_entities(broker, prefix, tmp_path):
    ha_python()
    config = tmp_path / "bridge.yaml"
    config.write_text(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                 "discovery_prefix": f"{prefix}_ha"},
        "cameras": {"yard": {"url": "lavfi:testsrc2=size=320x240:rate=5", "name": "Yard"},
                    "lens": {"url": str(covered_clip(tmp_path / "covered.mp4")), "name": "Lens"}},
        "timelapses": {"garden": {"camera": "yard", "name": "Garden daily", "interval": 2},
                       "covered": {"camera": "lens", "interval": 1, "degraded_after": 2}},
        "api": {"port": 0}, "data_dir": str(tmp_path / "data"),
    }))
    log = tmp_path / "bridge.log"
    with bridge_process(config, log) as bridge:
        async with recording(broker.port, prefix) as rec:
            await rec.wait(lambda: [m for m in rec.on(f"{prefix}/timelapse/garden/state")
                                    if json.loads(m.payload)["frames"] >= 1], 30, "a kept frame")
            covered = await rec.wait(lambda: [json.loads(m.payload) for m in rec.on(f"{prefix}/timelapse/covered/state")
                                              if json.loads(m.payload)["state"] == "degraded"], 30, "degraded")
            assert covered[-1]["frames"] >= 1 and "uniform" in covered[-1]["reason"], covered[-1]
        probe = await run_probe(broker.port, f"{prefix}_ha", tmp_path / "probe",
                                *[arg for e in TIMELAPSE_ENTITIES for arg in ("--expect-entity", e)],
                                "--expect-entity", "binary_sensor.timelapse_covered_problem")
        assert bridge.poll() is None, log.read_text()[-3000:]
    r = probe.result
    assert probe.rc == 0 and r.get("ok") is True, probe.context()
    for entity_id, (name, device_class, unit) in TIMELAPSE_ENTITIES.items():
        ent = probe.entity(entity_id)
        assert ent["platform"] == "mqtt" and ent["device_name"] == "Garden daily", ent
        assert ent["friendly_name"] == f"Garden daily {name}", ent
        assert ent["device_class"] == device_class and ent["unit_of_measurement"] == unit, ent
        key = entity_id.split(".", 1)[1].removeprefix("timelapse_garden_")
        assert ent["unique_id"] == f"{prefix}_timelapse.garden_{key}", ent
    assert probe.entity("sensor.timelapse_garden_state")["state"] == "running"
    assert int(probe.entity("sensor.timelapse_garden_frames")["state"]) >= 1
    assert probe.entity("switch.timelapse_garden_running")["state"] == "on"
    assert probe.entity("binary_sensor.timelapse_garden_problem")["state"] == "off"
    assert probe.entity("binary_sensor.timelapse_covered_problem")["state"] == "on"
    assert probe.entity("sensor.timelapse_covered_state")["state"] == "degraded"
    assert probe.entity("switch.timelapse_covered_running")["state"] == "on"  # still capturing
    assert probe.entity("sensor.timelapse_covered_frames")["state"] == str(covered[-1]["frames"])
    assert probe.entity("sensor.timelapse_garden_last_capture")["state"].startswith("20")
    device = probe.device("Garden daily")
    assert device["model"] == "Timelapse" and device["via_device"] == "Yard", device
    assert device["identifiers"] == [["mqtt", f"{prefix}_timelapse.garden"]], device
    check_ha_log(probe, prefix)
