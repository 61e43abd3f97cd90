"""No duplicate entities: a repair issue while the bridge also publishes MQTT discovery, fixed
by switching the bridge's discovery off."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_bridge import duplicates
from custom_components.camera_bridge.const import DOMAIN
from custom_components.camera_bridge.repairs import async_create_fix_flow
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from .conftest import FakeBridge


async def _setup(hass: HomeAssistant, fake_bridge: FakeBridge, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _mqtt_entity(hass: HomeAssistant, unique_id: str) -> None:
    """An entity HA's MQTT integration made from a discovery config."""
    mqtt_entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"})
    mqtt_entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create("camera", "mqtt", unique_id, config_entry=mqtt_entry)


async def test_no_issue_without_mqtt_duplicates(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                mock_config_entry: MockConfigEntry) -> None:
    fake_bridge.info["discovery"] = True
    _mqtt_entity(hass, "other_bridge_front_door_camera")  # another node id: not ours
    await _setup(hass, fake_bridge, mock_config_entry)
    assert ir.async_get(hass).async_get_issue(DOMAIN, duplicates.issue_id(mock_config_entry)) is None


async def test_issue_raised_and_fixed(hass: HomeAssistant, fake_bridge: FakeBridge,
                                      mock_config_entry: MockConfigEntry) -> None:
    _mqtt_entity(hass, "camera_bridge_front_door_camera")
    fake_bridge.info["discovery"] = True
    await _setup(hass, fake_bridge, mock_config_entry)
    issue_id = duplicates.issue_id(mock_config_entry)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.is_fixable and issue.translation_key == "mqtt_discovery_duplicates"

    flow = await async_create_fix_flow(hass, issue_id, issue.data)
    flow.hass = hass
    result = await flow.async_step_init()
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "confirm"
    fake_bridge.key_ok = False  # e.g. a viewer key: the bridge refuses
    result = await flow.async_step_confirm({})
    assert result["errors"] == {"base": "cannot_switch"}
    fake_bridge.key_ok = True
    result = await flow.async_step_confirm({})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ("set_discovery", False) in fake_bridge.calls
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("switch.camera_bridge_192_0_2_10_mqtt_discovery").state == "off"
