"""The camera entity's on/off: ``camera.turn_off``/``camera.turn_on`` switch the camera on the
bridge (``PUT /api/cameras/{id}/enabled``), ``is_on`` follows the bridge's pushed events."""

from __future__ import annotations

import pytest

from homeassistant.components.camera import CameraEntityFeature
from homeassistant.const import ATTR_SUPPORTED_FEATURES, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.camera_bridge import api

from .conftest import FakeBridge
from .test_init import wait_until


def _entity(hass: HomeAssistant, entity_id: str):
    return hass.data["camera"].get_entity(entity_id)


async def test_turn_off_and_on_switch_the_bridge_camera(hass: HomeAssistant, init_integration,
                                                         fake_bridge: FakeBridge, hass_client) -> None:
    state = hass.states.get("camera.front_door")
    assert state.attributes[ATTR_SUPPORTED_FEATURES] & CameraEntityFeature.ON_OFF
    assert _entity(hass, "camera.front_door").is_on is True
    client = await hass_client()
    assert (await client.get("/api/camera_proxy/camera.front_door")).status == 200

    await hass.services.async_call("camera", "turn_off", {"entity_id": "camera.front_door"}, blocking=True)
    assert ("set_camera_enabled", ("front_door", False)) in fake_bridge.calls
    assert _entity(hass, "camera.front_door").is_on is False
    assert hass.states.get("camera.front_door").state != STATE_UNAVAILABLE  # still switchable on
    # Home Assistant serves no image of a camera that is off
    assert (await client.get("/api/camera_proxy/camera.front_door")).status == 503

    await hass.services.async_call("camera", "turn_on", {"entity_id": "camera.front_door"}, blocking=True)
    assert ("set_camera_enabled", ("front_door", True)) in fake_bridge.calls
    assert _entity(hass, "camera.front_door").is_on is True
    assert (await client.get("/api/camera_proxy/camera.front_door")).status == 200


async def test_switched_elsewhere_the_pushed_event_updates_is_on(hass: HomeAssistant, init_integration,
                                                                 fake_bridge: FakeBridge) -> None:
    """Switched over MQTT or the API: the bridge's ``camera.enabled`` event (and the
    ``camera.status`` with state ``disabled``) change ``is_on`` without a reload."""
    assert _entity(hass, "camera.garage").is_on is True
    reloads = fake_bridge.calls.count(("cameras", None))
    fake_bridge.push("camera.status", {"camera": "garage", "state": "disabled", "fps": None})
    fake_bridge.push("camera.enabled", {"camera": "garage", "enabled": False})
    await wait_until(hass, lambda: _entity(hass, "camera.garage").is_on is False)
    fake_bridge.push("camera.enabled", {"camera": "garage", "enabled": True})
    fake_bridge.push("camera.status", {"camera": "garage", "state": "connecting"})
    await wait_until(hass, lambda: _entity(hass, "camera.garage").is_on is True)
    assert fake_bridge.calls.count(("cameras", None)) == reloads  # pushed, not polled


async def test_a_bridge_refusing_the_switch_raises(hass: HomeAssistant, init_integration,
                                                   fake_bridge: FakeBridge) -> None:
    fake_bridge.fail_with = api.CameraBridgeAuthError("403 forbidden: role operator required")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("camera", "turn_off", {"entity_id": "camera.front_door"}, blocking=True)
    assert err.value.translation_key == "bridge_error"
    assert "operator" in err.value.translation_placeholders["error"]
    fake_bridge.fail_with = None
    assert _entity(hass, "camera.front_door").is_on is True
