"""Detection from the push channel: motion, occupancy and count per label, detection events."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from .conftest import JPEG, FakeBridge
from .test_init import wait_until

PERSON = {"id": 7, "label": "person", "score": 0.91, "top_score": 0.93,
          "box": [0.1, 0.2, 0.3, 0.9], "zones": ["porch"], "start_time": 1795248620.0, "end_time": None,
          "snapshot_available": True, "frame_time": 1795248620.5}


async def test_detection_entities_follow_the_events(hass: HomeAssistant, init_integration,
                                                    fake_bridge: FakeBridge) -> None:
    assert hass.states.get("camera.front_door").attributes["motion_detection"] is True
    assert hass.states.get("camera.garage").attributes.get("motion_detection") is not True
    # only cameras with detection get them
    assert hass.states.get("binary_sensor.garage_motion") is None
    # the state as GET /api/cameras/{id}/detection gave it
    assert hass.states.get("binary_sensor.front_door_motion").state == STATE_OFF
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_OFF
    assert hass.states.get("sensor.front_door_person_count").state == "0"
    assert hass.states.get("sensor.front_door_inference_time").state == "21.4"
    assert hass.states.get("switch.front_door_detection").state == STATE_ON
    assert hass.states.get("event.front_door_person_detection").state == STATE_UNKNOWN

    fake_bridge.push("detection.motion", {"camera": "front_door", "motion": True})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "type": "new"}})
    await wait_until(hass, lambda: hass.states.get("sensor.front_door_person_count").state == "1")
    assert hass.states.get("binary_sensor.front_door_motion").state == STATE_ON
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_ON
    event = hass.states.get("event.front_door_person_detection")
    assert event.attributes["event_type"] == "new" and event.attributes["score"] == 0.91
    assert event.attributes["zones"] == ["porch"] and event.attributes["event_types"] == ["new", "end"]

    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "type": "update", "score": 0.8}})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "type": "end",
                                                                           "end_time": 1795248630.0,
                                                                           "end_reason": "stream_lost"}})
    fake_bridge.push("detection.motion", {"camera": "front_door", "motion": False})
    await wait_until(hass, lambda: hass.states.get("sensor.front_door_person_count").state == "0")
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_OFF
    assert hass.states.get("binary_sensor.front_door_motion").state == STATE_OFF
    ended = hass.states.get("event.front_door_person_detection").attributes
    assert ended["event_type"] == "end" and ended["end_reason"] == "stream_lost"



async def test_detection_switch_camera_motion_detection_and_best_snapshot(
        hass: HomeAssistant, init_integration, fake_bridge: FakeBridge, hass_client) -> None:
    await hass.services.async_call("camera", "disable_motion_detection", {"entity_id": "camera.front_door"},
                                   blocking=True)
    assert ("set_detection", ("front_door", False)) in fake_bridge.calls
    assert hass.states.get("switch.front_door_detection").state == STATE_OFF
    assert hass.states.get("camera.front_door").attributes.get("motion_detection") is not True
    await hass.services.async_call("switch", "turn_on", {"entity_id": "switch.front_door_detection"}, blocking=True)
    assert hass.states.get("camera.front_door").attributes["motion_detection"] is True

    # switched off elsewhere (MQTT): the pushed detection.state follows
    fake_bridge.push("detection.state", {"camera": "front_door", "enabled": False})
    await wait_until(hass, lambda: hass.states.get("switch.front_door_detection").state == STATE_OFF)

    image = "image.front_door_person_snapshot"
    assert hass.states.get(image).state == STATE_UNKNOWN  # none yet
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {
        **PERSON, "type": "new", "snapshot_available": True, "frame_time": 1795248620.5}})
    await wait_until(hass, lambda: hass.states.get(image).state != STATE_UNKNOWN)
    assert hass.states.get(image).state == "2026-11-21T08:10:20.500000+00:00"
    client = await hass_client()
    resp = await client.get(f"/api/image_proxy/{image}")
    assert resp.status == 200 and await resp.read() == JPEG + b"-person"


async def test_counts_from_before_a_reload_end_correctly(hass: HomeAssistant, init_integration,
                                                         fake_bridge: FakeBridge) -> None:
    """Two people in view at the reload (counts from the API), then their events end."""
    coordinator = init_integration.runtime_data
    fake_bridge.detect["front_door"]["counts"] = {"person": 2}
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_person_count").state == "2"
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "id": 1, "type": "update"}})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "id": 1, "type": "end"}})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "id": 2, "type": "end"}})
    await wait_until(hass, lambda: hass.states.get("sensor.front_door_person_count").state == "0")
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_OFF


async def test_bridge_without_detection_api_learns_from_events(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                               mock_config_entry) -> None:
    fake_bridge.detect = None
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_person_count").state == STATE_UNKNOWN
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**PERSON, "type": "new"}})
    await wait_until(hass, lambda: hass.states.get("sensor.front_door_person_count").state == "1")
