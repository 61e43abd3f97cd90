"""Config flow: user (success and every error), already configured, MQTT discovery, reauth,
reconfigure, options."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiohttp import web

from custom_components.camera_bridge import api
from custom_components.camera_bridge.const import CONF_API_KEY, CONF_LIVE_VIEW, CONF_STILL_WIDTH, DOMAIN
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_REAUTH, SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .conftest import BRIDGE_ID, ENTRY_DATA, FakeBridge


async def _user_flow(hass: HomeAssistant) -> dict:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    return result


async def test_user_flow_creates_the_entry(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    result = await _user_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Camera Bridge 192.0.2.10" and result["data"] == ENTRY_DATA
    assert result["result"].unique_id == BRIDGE_ID
    await hass.async_block_till_done()
    assert hass.states.get("camera.front_door") is not None


@pytest.mark.parametrize(("failure", "error"), [
    (api.CameraBridgeConnectionError("Cannot connect"), "cannot_connect"),
    (api.CameraBridgeAuthError("401 unauthorized: unknown API key"), "invalid_auth"),
    (api.CameraBridgeResponseError("418 teapot", 418, "teapot"), "unknown"),
    (RuntimeError("boom"), "unknown"),
])
async def test_user_flow_errors_then_recovers(hass: HomeAssistant, fake_bridge: FakeBridge,
                                              failure: Exception, error: str) -> None:
    result = await _user_flow(hass)
    fake_bridge.fail_with = failure
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.FORM and result["errors"] == {"base": error}
    fake_bridge.fail_with = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("body", [b"[]", b"<html>router login</html>"])
async def test_something_else_at_the_address_cannot_connect(hass: HomeAssistant, socket_enabled: None,
                                                             body: bytes) -> None:
    """Another service at the address (JSON that is not an object, or not JSON at all), with the
    real client: the form says it cannot connect, not that something unknown went wrong."""
    async def _bridge(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/bridge", _bridge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        result = await _user_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**ENTRY_DATA, CONF_HOST: "127.0.0.1", CONF_PORT: port})
        assert result["type"] is FlowResultType.FORM and result["errors"] == {"base": "cannot_connect"}
    finally:
        await runner.cleanup()


async def test_same_bridge_cannot_be_added_twice(hass: HomeAssistant, fake_bridge: FakeBridge,
                                                 mock_config_entry) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await _user_flow(hass)
    other_address = {**ENTRY_DATA, CONF_HOST: "bridge.local", CONF_PORT: 9000}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], other_address)
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "already_configured"
    # the known bridge's new address is taken over
    assert mock_config_entry.data[CONF_HOST] == "bridge.local" and mock_config_entry.data[CONF_PORT] == 9000


def _mqtt_info(payload: str) -> MqttServiceInfo:
    return MqttServiceInfo(topic="camera_bridge/bridge/state", payload=payload, qos=1, retain=True,
                           subscribed_topic="camera_bridge/bridge/state", timestamp=datetime.now(UTC))


async def test_bridge_discovered_on_mqtt(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    payload = json.dumps({"id": BRIDGE_ID, "version": "0.1.0", "started_at": None, "uptime_s": 3,
                          "cameras": {"front_door": "streaming"}, "discovery": True})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_MQTT},
                                                       data=_mqtt_info(payload))
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    assert result["description_placeholders"]["bridge_id"] == BRIDGE_ID
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.CREATE_ENTRY and result["result"].unique_id == BRIDGE_ID
    await hass.async_block_till_done()

    # announced again: already configured
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_MQTT},
                                                       data=_mqtt_info(payload))
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "already_configured"


async def test_mqtt_discovery_of_another_address_is_refused(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    payload = json.dumps({"id": "f" * 32, "version": "0.1.0", "cameras": {}})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_MQTT},
                                                       data=_mqtt_info(payload))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "wrong_bridge"


@pytest.mark.parametrize("payload", ["online", '{"state": "online"}', '{"id": 5, "cameras": {}}'])
async def test_mqtt_messages_of_other_devices_are_ignored(hass: HomeAssistant, payload: str) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_MQTT},
                                                       data=_mqtt_info(payload))
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "not_camera_bridge"


async def test_reauth(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    entry = init_integration
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id}, data=entry.data)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "reauth_confirm"
    fake_bridge.key_ok = False
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_API_KEY: "cb_wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    fake_bridge.key_ok = True
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_API_KEY: "cb_new"})
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reauth_successful"
    assert entry.data[CONF_API_KEY] == "cb_new"
    await hass.async_block_till_done()


async def test_reconfigure(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    entry = init_integration
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "reconfigure", "entry_id": entry.entry_id})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "reconfigure"
    new = {**ENTRY_DATA, CONF_HOST: "192.0.2.99"}
    fake_bridge.reachable = False
    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["errors"] == {"base": "cannot_connect"}
    fake_bridge.reachable = True
    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_HOST] == "192.0.2.99" and entry.title == "Camera Bridge 192.0.2.99"
    await hass.async_block_till_done()


async def test_reconfigure_to_another_bridge_is_refused(hass: HomeAssistant, init_integration,
                                                        fake_bridge: FakeBridge) -> None:
    entry = init_integration
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "reconfigure", "entry_id": entry.entry_id})
    fake_bridge.info["id"] = "e" * 32
    result = await hass.config_entries.flow.async_configure(result["flow_id"], ENTRY_DATA)
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "wrong_bridge"
    assert entry.data == ENTRY_DATA


async def test_options_flow(hass: HomeAssistant, init_integration, fake_bridge: FakeBridge) -> None:
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_LIVE_VIEW: "snapshots", CONF_STILL_WIDTH: 640})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_LIVE_VIEW: "snapshots", CONF_STILL_WIDTH: 640}
    await hass.async_block_till_done()  # reloaded with the options
    from homeassistant.components.camera import async_get_image
    await async_get_image(hass, "camera.front_door")
    assert fake_bridge.calls[-1] == ("snapshot", ("front_door", 640))
