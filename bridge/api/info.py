"""``GET /api/bridge`` (who this bridge is) and ``PUT /api/bridge/discovery`` (switch Home
Assistant MQTT discovery off or on at run time, e.g. when the Home Assistant custom component
takes the cameras over; see docs/home-assistant.md), and the same as the JSON-RPC methods
``bridge.get`` and ``bridge.set_discovery`` (``-32002`` conflict when ``mqtt.discovery`` is
false in the configuration)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from .. import instance
from ..core.errors import Conflict
from .errors import ApiError
from .rpc import Connection, Param, method

if TYPE_CHECKING:
    from ..app import Bridge


def setup(app: web.Application) -> None:
    """Add the bridge routes."""
    app.router.add_get("/api/bridge", get_bridge, name="bridge.get")
    app.router.add_put("/api/bridge/discovery", put_discovery, name="bridge.discovery")


def _bridge(request: web.Request) -> Bridge:
    from .server import BRIDGE

    return request.app[BRIDGE]


def bridge_view(bridge: Bridge) -> dict[str, Any]:
    """``{id, version, started_at, uptime_s, cameras: {id: state}, mqtt: {base_topic, node_id,
    discovery, discovery_configured, discovery_prefix, connected}, mediamtx: {available, version}
    or None}``; ``uptime_s`` in whole seconds."""
    state = bridge.publisher.bridge_state()
    mqtt = bridge.config.mqtt
    return {
        **state,
        "mqtt": {
            "base_topic": mqtt.base_topic,
            "node_id": bridge.publisher.topics.node_id,
            "discovery": bridge.publisher.discovery_enabled,
            "discovery_configured": mqtt.discovery,
            "discovery_prefix": mqtt.discovery_prefix,
            "connected": bridge.publisher.link.connected.is_set(),
        },
        "mediamtx": None if bridge.mediamtx is None else {
            "available": bridge.mediamtx.available, "version": bridge.mediamtx.info.get("version")},
    }


async def get_bridge(request: web.Request) -> web.Response:
    """The bridge's id, version, uptime, camera states and MQTT discovery settings."""
    return web.json_response(bridge_view(_bridge(request)))


async def put_discovery(request: web.Request) -> web.Response:
    """Body ``{"enabled": bool}``: switch HA MQTT discovery (persisted in the state directory);
    answers the bridge view. 400 for a bad body, 409 when ``mqtt.discovery`` is false."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool) or set(body) != {"enabled"}:
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    bridge = _bridge(request)
    if not await switch_discovery(bridge, body["enabled"]):
        raise Conflict(CONFIGURED_OFF)
    return web.json_response(bridge_view(bridge))


CONFIGURED_OFF = "discovery is off in the configuration (mqtt.discovery: false)"


async def switch_discovery(bridge: Bridge, enabled: bool) -> bool:
    """Switch HA discovery and keep the choice in ``instance.json``; False (nothing done) when
    switching on a discovery the configuration turns off. Raises InstanceError (file I/O)."""
    if enabled and not bridge.config.mqtt.discovery:
        return False
    current = bridge.instance or instance.Instance("0" * 32)
    updated = dataclasses.replace(current, ha_discovery=None if enabled else False)
    await asyncio.to_thread(instance.save, bridge.config.state_dir, updated)
    bridge.instance = updated
    bridge.publisher.set_discovery(enabled)
    return True


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


@method("bridge.get", "This bridge: id, version, uptime, camera states, MQTT discovery settings.")
async def _rpc_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return bridge_view(conn.bridge)


@method("bridge.set_discovery", "Switch Home Assistant MQTT discovery off or on (kept across restarts).",
        Param("enabled", _bool, "boolean", "false clears the discovery configs, true publishes them"),
        operation="bridge.discovery")
async def _rpc_set_discovery(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    if not await switch_discovery(conn.bridge, params["enabled"]):
        raise Conflict(CONFIGURED_OFF)
    return bridge_view(conn.bridge)
