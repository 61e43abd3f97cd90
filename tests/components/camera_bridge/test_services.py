"""``camera_bridge.snapshot``: valid and invalid input."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.camera_bridge.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .conftest import JPEG, FakeBridge


@pytest.fixture
def allowed_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    return tmp_path


async def test_snapshot_saved_to_an_allowed_path(hass: HomeAssistant, init_integration, allowed_dir: Path) -> None:
    target = allowed_dir / "sub" / "front.jpg"
    await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": "camera.front_door", "filename": str(target)},
                                   blocking=True)
    assert target.read_bytes() == JPEG
    assert [p.name for p in target.parent.iterdir()] == ["front.jpg"]  # no temporary file left


async def test_fresh_snapshot_waits_for_the_new_one(hass: HomeAssistant, init_integration, allowed_dir: Path,
                                                   fake_bridge: FakeBridge) -> None:
    target = allowed_dir / "fresh.jpg"
    await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": "camera.front_door", "filename": str(target),
                                                        "fresh": True}, blocking=True)
    assert ("snapshot_now", "front_door") in fake_bridge.calls
    assert target.read_bytes() == JPEG + b"-fresh"


@pytest.mark.parametrize(("entity_id", "filename", "key"), [
    ("camera.front_door", "/etc/front.jpg", "path_not_allowed"),
    ("camera.front_door", "relative.jpg", "path_not_allowed"),
    ("camera.front_door", "{dir}/front.png", "not_jpeg"),
    ("sensor.front_door_frame_rate", "{dir}/front.jpg", "not_a_bridge_camera"),
    ("camera.nothing_here", "{dir}/front.jpg", "not_a_bridge_camera"),
])
async def test_bad_input_is_refused(hass: HomeAssistant, init_integration, allowed_dir: Path,
                                    entity_id: str, filename: str, key: str) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": entity_id,
                                       "filename": filename.format(dir=allowed_dir)}, blocking=True)
    assert err.value.translation_key == key
    assert list(allowed_dir.iterdir()) == []


async def test_camera_without_snapshot_is_a_bridge_error(hass: HomeAssistant, init_integration,
                                                         allowed_dir: Path) -> None:
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": "camera.garage",
                                       "filename": str(allowed_dir / "g.jpg")}, blocking=True)
    assert err.value.translation_key == "bridge_error" and "no_snapshot" in str(err.value.translation_placeholders)


async def test_create_timelapse(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    await hass.services.async_call(DOMAIN, "create_timelapse", {
        "entity_id": "camera.front_door", "name": "Porch", "options": {"interval": 60}}, blocking=True)
    assert ("create_timelapse", {"interval": 60, "camera": "front_door", "name": "Porch"}) in fake_bridge.calls
    await hass.async_block_till_done()
    assert hass.states.get("sensor.porch_state").state == "running"  # its entities are there at once


@pytest.mark.parametrize(("data", "key"), [
    ({"entity_id": "camera.front_door", "name": "Garden", "id": "garden"}, "refused"),  # 409 exists
    ({"entity_id": "camera.front_door", "name": "X", "options": {"interval": "often"}}, "refused"),  # 400
    ({"entity_id": "sensor.front_door_frame_rate", "name": "X"}, "not_a_bridge_camera"),
])
async def test_create_timelapse_refused(hass: HomeAssistant, init_integration, data: dict, key: str) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "create_timelapse", data, blocking=True)
    assert err.value.translation_key == key


async def test_create_timelapse_bad_id_is_refused_by_the_schema(hass: HomeAssistant, init_integration) -> None:
    import voluptuous as vol

    with pytest.raises(vol.Invalid):
        await hass.services.async_call(DOMAIN, "create_timelapse", {
            "entity_id": "camera.front_door", "name": "X", "id": "../etc"}, blocking=True)


async def test_render_timelapse(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    await hass.services.async_call(DOMAIN, "render_timelapse", {"entity_id": "sensor.garden_frames"}, blocking=True)
    assert ("timelapse_action", ("garden", "render")) in fake_bridge.calls
    assert hass.states.get("sensor.garden_render_progress").state == "0.0"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "render_timelapse", {"entity_id": "camera.front_door"}, blocking=True)
    assert err.value.translation_key == "not_a_timelapse"
