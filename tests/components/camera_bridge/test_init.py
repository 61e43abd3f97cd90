"""Setup and unload, entity states, push updates, unavailability, dynamic cameras."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.camera_bridge.const import DOMAIN, EVENT_BRIDGE, POLL_INTERVAL, STATS_INTERVAL
from homeassistant.components.camera import CameraEntityFeature, async_get_image, async_get_stream_source
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .conftest import BRIDGE_ID, JPEG, FakeBridge, camera_dict, get_device


async def wait_until(hass: HomeAssistant, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Let HA run until ``predicate()`` holds (real time: the push channel retries on a timer)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
        await hass.async_block_till_done()


async def test_setup_and_unload(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.push_connected
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("camera.front_door").state == STATE_UNAVAILABLE
    assert not fake_bridge.push_open.is_set()  # the push channel was closed


async def test_bridge_unreachable_at_setup_is_retried(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                      mock_config_entry: MockConfigEntry) -> None:
    fake_bridge.reachable = False
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_refused_key_at_setup_starts_reauth(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                  mock_config_entry: MockConfigEntry) -> None:
    fake_bridge.key_ok = False
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_entities_devices_and_states(hass: HomeAssistant, init_integration) -> None:
    ent_reg = er.async_get(hass)
    bridge_dev = get_device(hass, BRIDGE_ID, init_integration.entry_id)
    assert bridge_dev.sw_version == "0.1.0" and bridge_dev.manufacturer == "Camera Bridge"
    front = get_device(hass, f"{BRIDGE_ID}_front_door", init_integration.entry_id)
    assert front.name == "Front door" and front.via_device_id == bridge_dev.id and front.model == "RTSP camera"

    camera = hass.states.get("camera.front_door")
    assert camera.state == "streaming" and camera.attributes["friendly_name"] == "Front door"
    assert ent_reg.async_get("camera.front_door").unique_id == f"{BRIDGE_ID}_front_door_camera"
    assert hass.states.get("camera.garage").state == "idle"  # backoff: not streaming

    assert hass.states.get("binary_sensor.front_door_connectivity").state == STATE_ON
    assert hass.states.get("binary_sensor.garage_connectivity").state == STATE_OFF
    fps = hass.states.get("sensor.front_door_frame_rate")
    assert fps.state == "5.0" and fps.attributes["unit_of_measurement"] == "fps"
    assert hass.states.get("sensor.front_door_last_frame").state == "2026-11-21T08:09:26+00:00"
    state = hass.states.get("sensor.garage_camera_state")
    assert state.state == "backoff" and "streaming" in state.attributes["options"]
    assert hass.states.get("sensor.garage_frame_rate").state == "unknown"
    assert ent_reg.async_get("sensor.garage_camera_state").entity_category == "diagnostic"

    bridge = "camera_bridge_192_0_2_10"
    assert hass.states.get(f"sensor.{bridge}_version").state == "0.1.0"
    assert hass.states.get(f"sensor.{bridge}_started").state == "2026-11-21T08:00:00+00:00"
    assert hass.states.get(f"binary_sensor.{bridge}_push_connection").state == STATE_ON
    assert hass.states.get(f"switch.{bridge}_mqtt_discovery").state == STATE_OFF
    assert ent_reg.async_get(f"switch.{bridge}_mqtt_discovery").entity_category == "config"


async def test_camera_image_and_stream_source(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    image = await async_get_image(hass, "camera.front_door", width=320)
    assert image.content == JPEG and image.content_type == "image/jpeg"
    assert ("snapshot", ("front_door", 320)) in fake_bridge.calls
    assert await async_get_stream_source(hass, "camera.front_door") is None  # no restream yet

    # the bridge gains a restream (MediaMTX): its loopback URL is made reachable from HA
    fake_bridge.push("camera.status", {"camera": "front_door", "stream_urls": {
        "rtsp": "rtsp://127.0.0.1:8554/front_door"}})
    await wait_until(hass, lambda: hass.states.get("camera.front_door").attributes.get("supported_features")
                     == CameraEntityFeature.ON_OFF | CameraEntityFeature.STREAM)
    assert await async_get_stream_source(hass, "camera.front_door") == "rtsp://192.0.2.10:8554/front_door"


async def test_push_updates_states_without_polling(hass: HomeAssistant, init_integration,
                                                   fake_bridge: FakeBridge) -> None:
    polls = fake_bridge.calls.count(("cameras", None))
    fake_bridge.push("camera.status", {"camera": "garage", "state": "streaming", "fps": 12.5,
                                       "last_frame_at": "2026-11-21T09:00:00.000+00:00"})
    await wait_until(hass, lambda: hass.states.get("binary_sensor.garage_connectivity").state == STATE_ON)
    assert hass.states.get("sensor.garage_frame_rate").state == "12.5"
    assert hass.states.get("camera.garage").state == "streaming"
    assert fake_bridge.calls.count(("cameras", None)) == polls  # nothing was fetched
    # states are pushed; only the statistics are reloaded now and then
    assert init_integration.runtime_data.update_interval == STATS_INTERVAL


async def test_cameras_added_and_removed_on_the_bridge(hass: HomeAssistant, init_integration,
                                                       fake_bridge: FakeBridge) -> None:
    fake_bridge.cams["porch"] = camera_dict("porch", "Porch")
    fake_bridge.push("camera.status", {"camera": "porch", "state": "streaming"})
    await wait_until(hass, lambda: hass.states.get("camera.porch") is not None)
    assert hass.states.get("binary_sensor.porch_connectivity").state == STATE_ON

    garage = fake_bridge.cams.pop("garage")
    fake_bridge.push("camera.removed", {"camera": "garage"})
    # its device and entities go away (not left behind unavailable)
    await wait_until(hass, lambda: hass.states.get("camera.garage") is None)
    assert get_device(hass, f"{BRIDGE_ID}_garage", init_integration.entry_id) is None
    assert er.async_get(hass).async_get("sensor.garage_frame_rate") is None
    assert get_device(hass, BRIDGE_ID, init_integration.entry_id) is not None

    # added again with the same id: back with its entities
    fake_bridge.cams["garage"] = garage
    fake_bridge.push("camera.status", {"camera": "garage", "state": "backoff"})
    await wait_until(hass, lambda: hass.states.get("camera.garage") is not None)
    assert hass.states.get("sensor.garage_camera_state").state == "backoff"


async def test_unreachable_makes_entities_unavailable_then_back(hass: HomeAssistant, init_integration,
                                                                fake_bridge: FakeBridge) -> None:
    coordinator = init_integration.runtime_data
    fake_bridge.reachable = False
    fake_bridge.drop_push()
    await wait_until(hass, lambda: hass.states.get("camera.front_door").state == STATE_UNAVAILABLE)
    assert hass.states.get("sensor.front_door_frame_rate").state == STATE_UNAVAILABLE
    assert coordinator.update_interval == POLL_INTERVAL  # polling while the push channel is down

    fake_bridge.reachable = True  # the push channel reconnects (1-2 s) and reloads the state
    await wait_until(hass, lambda: hass.states.get("camera.front_door").state == "streaming")
    assert hass.states.get("sensor.front_door_frame_rate").state == "5.0"
    assert coordinator.push_connected and coordinator.update_interval == STATS_INTERVAL


async def test_other_bridge_events_are_fired_on_the_bus(hass: HomeAssistant, init_integration,
                                                        fake_bridge: FakeBridge) -> None:
    # a @callback listener, as automations' event triggers are: it runs in the event loop when the
    # event is fired, so it sees the events in the order the integration fired them (a plain
    # lambda would be an executor job: two of them may append in either order)
    events = async_capture_events(hass, EVENT_BRIDGE)
    # a new snapshot (every few seconds per camera) is not an event for HA's bus
    fake_bridge.push("camera.snapshot", {"camera": "front_door", "taken_at": 1.0, "width": 64, "height": 48,
                                         "bytes": 900})
    fake_bridge.push("detection.event", {"camera": "front_door", "event": {"type": "new", "label": "person",
                                                                           "score": 0.91}})
    fake_bridge.push("timelapse.frame", {"timelapse": "garden", "frame": 12, "kept": True})
    await wait_until(hass, lambda: len(events) == 2)
    assert [event.data for event in events] == [
        {"bridge_id": BRIDGE_ID, "event": "detection.event", "camera": "front_door", "type": "new",
         "label": "person", "score": 0.91},
        {"bridge_id": BRIDGE_ID, "event": "timelapse.frame", "timelapse": "garden", "frame": 12, "kept": True}]


async def test_snapshot_button_and_discovery_switch(hass: HomeAssistant, init_integration,
                                                    fake_bridge: FakeBridge) -> None:
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: "button.front_door_take_snapshot"},
                                   blocking=True)
    assert ("snapshot_now", "front_door") in fake_bridge.calls
    switch = "switch.camera_bridge_192_0_2_10_mqtt_discovery"
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: switch}, blocking=True)
    assert ("set_discovery", True) in fake_bridge.calls and hass.states.get(switch).state == STATE_ON
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: switch}, blocking=True)
    assert hass.states.get(switch).state == STATE_OFF


async def test_mediamtx_readers_recording_and_availability(hass: HomeAssistant, init_integration,
                                                          fake_bridge: FakeBridge) -> None:
    bridge = "camera_bridge_192_0_2_10"
    assert hass.states.get(f"binary_sensor.{bridge}_mediamtx").state == STATE_ON
    assert hass.states.get("sensor.garage_stream_viewers").state == "2"
    assert hass.states.get("sensor.front_door_stream_viewers") is None  # no MediaMTX path
    assert hass.states.get("switch.garage_recording").state == STATE_OFF

    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: "switch.garage_recording"}, blocking=True)
    assert ("set_recording", ("garage", True)) in fake_bridge.calls
    assert hass.states.get("switch.garage_recording").state == STATE_ON

    fake_bridge.push("camera.recording", {"camera": "garage", "recording": False})
    fake_bridge.push("mediamtx.availability", {"available": False, "version": None, "error": "connection refused"})
    await wait_until(hass, lambda: hass.states.get(f"binary_sensor.{bridge}_mediamtx").state == STATE_OFF)
    assert hass.states.get("switch.garage_recording").state == STATE_OFF


async def test_bridge_without_mediamtx_has_no_mediamtx_entities(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                               mock_config_entry: MockConfigEntry) -> None:
    fake_bridge.mediamtx = None
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.camera_bridge_192_0_2_10_mediamtx") is None


async def test_only_devices_the_bridge_no_longer_has_can_be_deleted(hass: HomeAssistant, init_integration) -> None:
    from custom_components.camera_bridge import async_remove_config_entry_device

    dev_reg = dr.async_get(hass)
    front = get_device(hass, f"{BRIDGE_ID}_front_door", init_integration.entry_id)
    assert await async_remove_config_entry_device(hass, init_integration, front) is False
    gone = dev_reg.async_get_or_create(config_entry_id=init_integration.entry_id,
                                       identifiers={(DOMAIN, f"{BRIDGE_ID}_old_camera")})
    assert await async_remove_config_entry_device(hass, init_integration, gone) is True


async def test_missed_events_reload_and_a_bad_event_does_not_end_the_push(
        hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    from custom_components.camera_bridge import api

    polls = fake_bridge.calls.count(("cameras", None))
    fake_bridge.cams["garage"]["state"] = "streaming"  # changed while its event was lost
    fake_bridge.queue.put_nowait(api.BridgeEvent("camera.status", {"camera": "front_door", "state": "streaming"},
                                                 1.0, missed=3))
    await wait_until(hass, lambda: hass.states.get("camera.garage").state == "streaming")
    assert fake_bridge.calls.count(("cameras", None)) == polls + 1

    fake_bridge.queue.put_nowait(api.BridgeEvent("camera.status", {"camera": ["not", "an", "id"]}, 1.0))
    await wait_until(hass, lambda: fake_bridge.push_open.is_set() and init_integration.runtime_data.push_connected)
    fake_bridge.push("camera.status", {"camera": "garage", "state": "backoff"})
    await wait_until(hass, lambda: hass.states.get("camera.garage").state == "idle")


async def test_live_view_proxies_the_bridges_mjpeg(hass: HomeAssistant, init_integration, hass_client,
                                                   fake_bridge: FakeBridge) -> None:
    from .conftest import MJPEG

    client = await hass_client()
    resp = await client.get("/api/camera_proxy_stream/camera.front_door")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    assert await resp.read() == MJPEG
    assert ("open", ("/api/cameras/front_door/mjpeg", None)) in fake_bridge.calls


async def test_a_camera_with_two_streams_shows_each_on_its_state_sensor(
        hass: HomeAssistant, fake_bridge: FakeBridge, mock_config_entry: MockConfigEntry) -> None:
    main = {"url": "rtsp://viewer:***@192.0.2.30:554/main", "roles": ["snapshot", "timelapse", "restream", "record"],
            "state": "streaming", "fps": 25.0, "width": 1920, "height": 1080, "codec": "h264", "error": None}
    sub = {"url": "rtsp://viewer:***@192.0.2.30:554/sub", "roles": ["detect"], "state": "backoff", "fps": None,
           "width": 640, "height": 360, "codec": "h264", "error": "stream ended"}
    fake_bridge.cams["porch"] = camera_dict("porch", "Porch", state="backoff", streams=[main, sub])
    fake_bridge.cams["front_door"]["streams"] = [{**main, "roles": ["detect", *main["roles"]]}]
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    state = hass.states.get("sensor.porch_camera_state")
    assert state.state == "backoff"
    assert state.attributes["streams"] == [
        {"roles": ["snapshot", "timelapse", "restream", "record"], "state": "streaming", "fps": 25.0,
         "width": 1920, "height": 1080, "codec": "h264"},
        {"roles": ["detect"], "state": "backoff", "fps": None, "width": 640, "height": 360, "codec": "h264"}]
    # a one-stream camera's entities are as before
    assert "streams" not in hass.states.get("sensor.front_door_camera_state").attributes
