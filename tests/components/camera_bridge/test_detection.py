"""Detection from the push channel: motion, occupancy and count per label, detection events."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from .conftest import FakeBridge
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
    assert hass.states.get("binary_sensor.front_door_motion").state == STATE_UNKNOWN
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_UNKNOWN
    assert hass.states.get("sensor.front_door_person_count").state == STATE_UNKNOWN
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
                                                                           "end_time": 1795248630.0}})
    fake_bridge.push("detection.motion", {"camera": "front_door", "motion": False})
    await wait_until(hass, lambda: hass.states.get("sensor.front_door_person_count").state == "0")
    assert hass.states.get("binary_sensor.front_door_person_occupancy").state == STATE_OFF
    assert hass.states.get("binary_sensor.front_door_motion").state == STATE_OFF
    assert hass.states.get("event.front_door_person_detection").attributes["event_type"] == "end"
