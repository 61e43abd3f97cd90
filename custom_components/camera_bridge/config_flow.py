"""Config flow: add a bridge by host, port and API key (or confirm one discovered on MQTT);
reauthenticate, reconfigure; options for the live view and still size.

The unique id is the bridge's persistent id (``GET /api/bridge``), so one bridge cannot be added
twice, even under another host name; a known bridge found at a new address is updated instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .api import (
    BridgeInfo,
    CameraBridgeApiError,
    CameraBridgeAuthError,
    CameraBridgeClient,
    CameraBridgeConnectionError,
)
from .compat import ConfigFlowResult, vol
from .const import (
    CONF_API_KEY,
    CONF_LIVE_VIEW,
    CONF_SSL,
    CONF_STILL_WIDTH,
    CONF_VERIFY_SSL,
    DEFAULT_PORT,
    DOMAIN,
    LIVE_VIEW_RTSP,
    LIVE_VIEW_SNAPSHOTS,
)
from .coordinator import CameraBridgeConfigEntry

_LOGGER = logging.getLogger(__name__)

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _connection_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): str,
            vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=65535)
            ),
            vol.Optional(CONF_API_KEY, default=defaults.get(CONF_API_KEY, "")): _PASSWORD,
            vol.Required(CONF_SSL, default=defaults.get(CONF_SSL, False)): bool,
            vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
        }
    )


async def validate_input(hass: HomeAssistant, data: Mapping[str, Any]) -> BridgeInfo:
    """Ask the bridge who it is with these settings. Raises CameraBridgeConnectionError,
    CameraBridgeAuthError or another CameraBridgeApiError."""
    client = CameraBridgeClient(
        async_get_clientsession(hass, data.get(CONF_VERIFY_SSL, True)),
        data[CONF_HOST],
        data[CONF_PORT],
        data.get(CONF_API_KEY) or None,
        ssl=data.get(CONF_SSL, False),
        verify_ssl=data.get(CONF_VERIFY_SSL, True),
    )
    info = await client.bridge()
    await client.cameras()  # the key must also be allowed to read the cameras
    return info


async def _errors_of(hass: HomeAssistant, data: Mapping[str, Any]) -> tuple[BridgeInfo | None, dict[str, str]]:
    try:
        return await validate_input(hass, data), {}
    except CameraBridgeConnectionError:
        return None, {"base": "cannot_connect"}
    except CameraBridgeAuthError:
        return None, {"base": "invalid_auth"}
    except CameraBridgeApiError:
        _LOGGER.exception("unexpected answer from the bridge")
        return None, {"base": "unknown"}
    except Exception:
        _LOGGER.exception("unexpected error validating the bridge")
        return None, {"base": "unknown"}


def _title(data: Mapping[str, Any]) -> str:
    return f"Camera Bridge {data[CONF_HOST]}"


# HA 2024.3 ships no types: to mypy its ConfigFlow is Any, whose __init_subclass__ (object's)
# takes no domain; current HA's does (there the ignore is unused: unused-ignore)
class CameraBridgeConfigFlow(ConfigFlow, domain=DOMAIN):  # type: ignore[call-arg, unused-ignore]
    """Adds a Camera Bridge."""

    VERSION = 1

    def __init__(self) -> None:
        self._discovered: dict[str, Any] = {}
        self._entry: CameraBridgeConfigEntry | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Host, port, API key, TLS."""
        errors: dict[str, str] = {}
        if user_input is not None:
            info, errors = await _errors_of(self.hass, user_input)
            if info is not None:
                if self._discovered and info.id != self._discovered["id"]:
                    return self.async_abort(reason="wrong_bridge")
                await self.async_set_unique_id(info.id)
                self._abort_if_unique_id_configured(
                    updates={CONF_HOST: user_input[CONF_HOST], CONF_PORT: user_input[CONF_PORT]}
                )
                return self.async_create_entry(title=_title(user_input), data=user_input)
        return self.async_show_form(
            step_id="user",
            data_schema=_connection_schema(user_input or {}),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    def _placeholders(self) -> dict[str, str]:
        return {"bridge_id": self._discovered.get("id", ""), "version": self._discovered.get("version", "")}

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A bridge announced itself on ``camera_bridge/bridge/state``: the user confirms it
        and gives the API's address (MQTT does not tell it)."""
        try:
            payload = json.loads(discovery_info.payload)
        except (ValueError, TypeError):
            payload = None
        bridge_id = payload.get("id") if isinstance(payload, dict) else None
        if not (isinstance(bridge_id, str) and len(bridge_id) == 32 and "cameras" in payload):
            return self.async_abort(reason="not_camera_bridge")
        await self.async_set_unique_id(bridge_id)
        self._abort_if_unique_id_configured()
        self._discovered = {"id": bridge_id, "version": str(payload.get("version", ""))}
        self.context["title_placeholders"] = {"name": f"Camera Bridge {bridge_id[:8]}"}
        return await self.async_step_user()

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The bridge refused the API key: ask for a new one."""
        self._entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A new API key for the same bridge."""
        assert self._entry is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**self._entry.data, CONF_API_KEY: user_input[CONF_API_KEY]}
            info, errors = await _errors_of(self.hass, data)
            if info is not None:
                if info.id != self._entry.unique_id:
                    return self.async_abort(reason="wrong_bridge")
                return self.async_update_reload_and_abort(self._entry, data=data, reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): _PASSWORD}),
            errors=errors,
            description_placeholders={"host": self._entry.data[CONF_HOST]},
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Change host, port, key or TLS of a configured bridge (the same bridge: same id)."""
        if self._entry is None:
            self._entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        assert self._entry is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            info, errors = await _errors_of(self.hass, user_input)
            if info is not None:
                if info.id != self._entry.unique_id:
                    return self.async_abort(reason="wrong_bridge")
                return self.async_update_reload_and_abort(
                    self._entry, title=_title(user_input), data=user_input, reason="reconfigure_successful"
                )
        return self.async_show_form(
            step_id="reconfigure", data_schema=_connection_schema(user_input or self._entry.data), errors=errors
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """The options flow."""
        return CameraBridgeOptionsFlow()


class CameraBridgeOptionsFlow(OptionsFlow):
    """Live view source and still width."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The only options step."""
        if user_input is not None:
            return self.async_create_entry(
                title="",
                data={CONF_LIVE_VIEW: user_input[CONF_LIVE_VIEW], CONF_STILL_WIDTH: int(user_input[CONF_STILL_WIDTH])},
            )
        entry = self.hass.config_entries.async_get_entry(self.handler)
        options = entry.options if entry else {}
        schema = vol.Schema(
            {
                vol.Required(CONF_LIVE_VIEW, default=options.get(CONF_LIVE_VIEW, LIVE_VIEW_RTSP)): SelectSelector(
                    SelectSelectorConfig(options=[LIVE_VIEW_RTSP, LIVE_VIEW_SNAPSHOTS], translation_key=CONF_LIVE_VIEW)
                ),
                vol.Required(CONF_STILL_WIDTH, default=options.get(CONF_STILL_WIDTH, 0)): NumberSelector(
                    NumberSelectorConfig(
                        min=0, max=7680, step=16, mode=NumberSelectorMode.BOX, unit_of_measurement="px"
                    )
                ),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
