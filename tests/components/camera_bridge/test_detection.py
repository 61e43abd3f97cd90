"""Detection from the push channel: motion, occupancy and count per label, detection events."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, callback

from custom_components.camera_bridge import api
from custom_components.camera_bridge.const import EVENT_BRIDGE, LINK_TTL

from .conftest import API_KEY, JPEG, FakeBridge
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


async def test_detection_events_carry_signed_links_for_notifications(hass: HomeAssistant, init_integration,
                                                                     fake_bridge: FakeBridge, caplog) -> None:
    """A detection event's snapshot and clip reach HA's bus and the event entity as signed links
    (``POST /api/links``), usable without the API key; made once per event media; a key that may
    not make links leaves the bridge paths (warned once)."""
    seen: list[dict] = []
    # a callback: a plain function runs in HA's executor, where the events' appends can reorder
    hass.bus.async_listen(EVENT_BRIDGE, callback(lambda event: seen.append(event.data)))
    event_id = "1795248620500-7"
    new = {**PERSON, "id": event_id, "type": "new", "snapshot_url": f"/api/events/{event_id}/snapshot.jpg"}
    fake_bridge.push("detection.event", {"camera": "front_door", "event": new})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {**new, "type": "update", "score": 0.8}})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {
        **new, "type": "end", "end_time": 1795248630.0, "end_reason": "left",
        "clip_url": f"/api/events/{event_id}/clip.mp4"}})
    await wait_until(hass, lambda: len(seen) == 3)
    snapshot = f"http://192.0.2.10:8765/api/events/{event_id}/snapshot.jpg?exp=1795300000&kid=0123456789abcdef" \
               "&sig=signed-event_snapshot"
    clip = f"http://192.0.2.10:8765/api/events/{event_id}/clip.mp4?exp=1795300000&kid=0123456789abcdef" \
           "&sig=signed-event_clip"
    assert [e["snapshot_url"] for e in seen] == [snapshot] * 3
    assert seen[2]["clip_url"] == clip and "clip_url" not in seen[0]
    assert API_KEY not in str(seen)
    asked = [arg for what, arg in fake_bridge.calls if what == "signed_link"]
    assert asked == [{"camera": None, "event": event_id, "kind": "event_snapshot", "expires_in": LINK_TTL},
                     {"camera": None, "event": event_id, "kind": "event_clip", "expires_in": LINK_TTL}]
    ended = hass.states.get("event.front_door_person_detection").attributes
    assert ended["event_type"] == "end" and ended["snapshot_url"] == snapshot and ended["clip_url"] == clip

    # a viewer key: no links, the paths as the bridge gave them, one warning, no more asking
    fake_bridge.links_error = api.CameraBridgeAuthError("403 forbidden: this needs the operator role")
    other = {**new, "id": "1795248640000-8", "snapshot_url": "/api/events/1795248640000-8/snapshot.jpg"}
    for _ in range(2):
        fake_bridge.push("detection.event", {"camera": "front_door", "event": other})
    await wait_until(hass, lambda: len(seen) == 5)
    assert [e["snapshot_url"] for e in seen[3:]] == ["/api/events/1795248640000-8/snapshot.jpg"] * 2
    assert len([what for what, _ in fake_bridge.calls if what == "signed_link"]) == 3
    assert caplog.text.count("makes no signed links") == 1
