"""Home Assistant MQTT discovery as published on a real broker."""

from __future__ import annotations

import json

from ..conftest import make_config, recording, running
from ..peers import retained


async def discovery_of(broker, prefix, cameras):
    config = make_config(broker.port, prefix, cameras)
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{prefix}/bridge/state"), 10, "bridge state")
        found = await retained(broker.port, [f"{prefix}_ha/#"])
    return {topic: json.loads(payload) for topic, payload in found.items() if payload}


async def test_discovery_payloads_describe_devices_and_entities(broker, rtsp, prefix):
    configs = await discovery_of(broker, prefix, {"front_door": {"url": rtsp.url, "name": "Front door"}})
    node = prefix
    by_component = {}
    for topic, payload in configs.items():
        ha_prefix, component, node_id, object_id, leaf = topic.split("/")
        assert (ha_prefix, node_id, leaf) == (f"{prefix}_ha", node, "config")
        assert payload["object_id"] == object_id
        assert payload["default_entity_id"] == f"{component}.{object_id}"
        owner = "bridge" if object_id.startswith(node) else "front_door"
        key = object_id.removeprefix(f"{node}_").removeprefix("front_door_") if object_id != "front_door" else "camera"
        assert payload["unique_id"] == f"{node}_{owner}_{key}"
        assert payload["origin"]["name"] == "Camera Bridge" and payload["origin"]["sw_version"]
        by_component.setdefault(component, []).append(payload)
    assert sorted(by_component) == ["binary_sensor", "button", "camera", "sensor", "switch"]
    assert len(configs) == 6 + 3  # six camera entities, three bridge entities

    camera = by_component["camera"][0]
    assert camera["topic"] == f"{prefix}/front_door/snapshot"
    assert camera["name"] is None  # the entity takes the device's name: camera.front_door
    assert camera["device"]["name"] == "Front door"
    assert camera["device"]["via_device"] == f"{node}_bridge"
    assert camera["availability_mode"] == "all"
    assert [a["topic"] for a in camera["availability"]] == [
        f"{prefix}/bridge/availability", f"{prefix}/front_door/availability"]

    switch = by_component["switch"][0]  # on/off: switchable while the camera is off (offline)
    assert switch["command_topic"] == f"{prefix}/front_door/enabled/set"
    assert switch["state_topic"] == f"{prefix}/front_door/enabled/state"
    assert [a["topic"] for a in switch["availability"]] == [f"{prefix}/bridge/availability"]

    button = by_component["button"][0]
    assert button["command_topic"] == f"{prefix}/front_door/snapshot/set"
    connectivity = {p["unique_id"]: p for p in by_component["binary_sensor"]}
    cam_conn = connectivity[f"{node}_front_door_connectivity"]
    assert cam_conn["device_class"] == "connectivity"
    assert cam_conn["state_topic"] == f"{prefix}/front_door/availability"
    # it reports the camera's connectivity, so it must stay available while the camera is down
    assert [a["topic"] for a in cam_conn["availability"]] == [f"{prefix}/bridge/availability"]
    sensors = {p["unique_id"]: p for p in by_component["sensor"]}
    assert sensors[f"{node}_front_door_fps"]["entity_category"] == "diagnostic"
    assert sensors[f"{node}_front_door_last_frame"]["device_class"] == "timestamp"
    assert {f"{node}_bridge_version", f"{node}_bridge_uptime"} <= set(sensors)
    bridge_ids = {p["device"]["identifiers"][0] for p in configs.values() if "via_device" not in p["device"]}
    assert bridge_ids == {f"{node}_bridge"}


async def test_unique_ids_are_stable_across_restarts(broker, rtsp, prefix):
    cameras = {"a": {"url": rtsp.url}, "b": {"url": "lavfi:testsrc2=size=320x240:rate=5"}}
    first = await discovery_of(broker, prefix, cameras)
    second = await discovery_of(broker, prefix, cameras)
    assert {t: p["unique_id"] for t, p in first.items()} == {t: p["unique_id"] for t, p in second.items()}
    assert len({p["unique_id"] for p in first.values()}) == len(first)


async def test_removed_camera_is_cleared_at_start(broker, rtsp, prefix):
    both = {"keep": {"url": rtsp.url}, "gone": {"url": rtsp.url}}
    before = await discovery_of(broker, prefix, both)
    assert any("/gone" in t for t in before)
    config = make_config(broker.port, prefix, {"keep": {"url": rtsp.url}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/gone/status") if not m.payload], 10,
                       "the removed camera's status cleared")
        gone_configs = [t for t in before if "/gone" in t]  # cleared one by one, as they come in
        await rec.wait(lambda: all(any(not m.payload for m in rec.on(t)) for t in gone_configs), 10,
                       "the removed camera's discovery configs cleared")
        found = await retained(broker.port, [f"{prefix}_ha/#", f"{prefix}/#"])
    assert not [t for t in found if "gone" in t], "stale retained topics of the removed camera"
    assert [t for t in found if "/keep" in t]


async def test_discovery_can_be_turned_off(broker, rtsp, prefix):
    configs = await discovery_of_with(broker, prefix, {"cam": {"url": rtsp.url}}, discovery=False)
    assert configs == {}


async def discovery_of_with(broker, prefix, cameras, **mqtt):
    config = make_config(broker.port, prefix, cameras, **mqtt)
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{prefix}/cam/snapshot"), 10, "a snapshot")
        return await retained(broker.port, [f"{prefix}_ha/#"])
