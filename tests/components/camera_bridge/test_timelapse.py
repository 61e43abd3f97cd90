"""Timelapses: a device each, state/frames/render progress/problem, running switch, render
button, latest frame image; pushed updates."""

from __future__ import annotations

from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant


from .conftest import BRIDGE_ID, JPEG, FakeBridge, get_device, timelapse_dict
from .test_init import wait_until


async def test_timelapse_entities(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge,
                                  hass_client) -> None:
    dev = get_device(hass, f"{BRIDGE_ID}_timelapse_garden", init_integration.entry_id)
    bridge = get_device(hass, BRIDGE_ID, init_integration.entry_id)
    assert dev.name == "Garden" and dev.model == "Timelapse" and dev.via_device_id == bridge.id
    assert hass.states.get("sensor.garden_state").state == "running"
    assert hass.states.get("sensor.garden_frames").state == "120"
    assert hass.states.get("sensor.garden_render_progress").state == STATE_UNKNOWN
    assert hass.states.get("binary_sensor.garden_problem").state == STATE_OFF
    assert hass.states.get("switch.garden_running").state == STATE_ON

    image = hass.states.get("image.garden_latest_frame")
    assert image.state == "2026-11-21T08:05:00+00:00"
    client = await hass_client()
    resp = await client.get("/api/image_proxy/image.garden_latest_frame")
    assert resp.status == 200 and await resp.read() == JPEG + b"-tl"


async def test_timelapse_push_updates(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    fake_bridge.push("timelapse.status", {"id": "garden", "camera": "front_door", "state": "error",
                                          "reason": "low disk space", "frames": 121})
    await wait_until(hass, lambda: hass.states.get("binary_sensor.garden_problem").state == STATE_ON)
    assert hass.states.get("binary_sensor.garden_problem").attributes["reason"] == "low disk space"
    assert hass.states.get("sensor.garden_frames").state == "121"
    assert hass.states.get("switch.garden_running").state == STATE_ON  # error is a condition of running

    fake_bridge.push("timelapse.render", {"timelapse": "garden", "state": "running", "percent": 42.5})
    await wait_until(hass, lambda: hass.states.get("sensor.garden_render_progress").state == "42.5")

    fake_bridge.tls["porch"] = timelapse_dict("porch", "Porch", "front_door", state="created")
    fake_bridge.push("timelapse.added", {"timelapse": "porch"})
    await wait_until(hass, lambda: hass.states.get("switch.porch_running") is not None)
    assert hass.states.get("switch.porch_running").state == STATE_OFF

    del fake_bridge.tls["garden"]
    fake_bridge.push("timelapse.removed", {"timelapse": "garden", "camera": "front_door"})
    await wait_until(hass, lambda: hass.states.get("sensor.garden_state") is None)
    assert get_device(hass, f"{BRIDGE_ID}_timelapse_garden", init_integration.entry_id) is None


async def test_running_switch_and_render_button(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: "switch.garden_running"}, blocking=True)
    assert ("timelapse_action", ("garden", "pause")) in fake_bridge.calls
    assert hass.states.get("sensor.garden_state").state == "paused"
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: "switch.garden_running"}, blocking=True)
    assert ("timelapse_action", ("garden", "resume")) in fake_bridge.calls
    assert hass.states.get("switch.garden_running").state == STATE_ON
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: "button.garden_render_video"}, blocking=True)
    assert ("timelapse_action", ("garden", "render")) in fake_bridge.calls
    assert hass.states.get("sensor.garden_render_progress").state == "0.0"
