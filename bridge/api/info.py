"""``GET /api/bridge`` (who this bridge is) and ``PUT /api/bridge/discovery`` (switch Home
Assistant MQTT discovery off or on at run time, e.g. when the Home Assistant custom component
takes the cameras over; see docs/home-assistant.md), and the same as the JSON-RPC methods
``bridge.get`` and ``bridge.set_discovery`` (``-32002`` conflict when ``mqtt.discovery`` is
false in the configuration). Both switch through ``BridgeControl.set_discovery``.
``POST /api/bridge/reload`` and ``bridge.reload`` reload the configuration file
(``BridgeControl.reload_config``)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..core.view import BridgeView
from .errors import ApiError
from .keys import control_of, view_of
from .rpc import Connection, Param, flag_param, method


def setup(app: web.Application) -> None:
    """Add the bridge routes."""
    app.router.add_get("/api/bridge", get_bridge, name="bridge.get")
    app.router.add_put("/api/bridge/discovery", put_discovery, name="bridge.discovery")
    app.router.add_post("/api/bridge/reload", post_reload, name="bridge.reload")


def bridge_view(view: BridgeView) -> dict[str, Any]:
    """``{id, version, started_at, uptime_s, cameras: {id: state}, mqtt: {base_topic, node_id,
    discovery, discovery_configured, discovery_prefix, connected}, mediamtx: {available, version}
    or None}``; ``uptime_s`` in whole seconds."""
    return {**view.bridge_state(), "mqtt": view.mqtt_settings(), "mediamtx": view.mediamtx_summary()}


async def get_bridge(request: web.Request) -> web.Response:
    """The bridge's id, version, uptime, camera states and MQTT discovery settings."""
    return web.json_response(bridge_view(view_of(request)))


async def put_discovery(request: web.Request) -> web.Response:
    """Body ``{"enabled": bool}``: switch HA MQTT discovery (persisted in the state directory);
    answers the bridge view. 400 for a bad body, 409 when ``mqtt.discovery`` is false."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool) or set(body) != {"enabled"}:
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    await control_of(request).set_discovery(body["enabled"])
    return web.json_response(bridge_view(view_of(request)))


async def post_reload(request: web.Request) -> web.Response:
    """Reload the configuration file: ``{applied, source, errors, changes, summary,
    restart_needed, at}``. A rejected file answers 200 too, with its ``errors`` (the running
    configuration stays); 503 when the bridge was started without a file."""
    return web.json_response(await control_of(request).reload_config("api"))


@method("bridge.get", "This bridge: id, version, uptime, camera states, MQTT discovery settings.")
async def _rpc_get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return bridge_view(conn.view)


@method(
    "bridge.set_discovery",
    "Switch Home Assistant MQTT discovery off or on (kept across restarts).",
    Param("enabled", flag_param, "boolean", "false clears the discovery configs, true publishes them"),
    operation="bridge.discovery",
)
async def _rpc_set_discovery(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.set_discovery(params["enabled"])
    return bridge_view(conn.view)


@method(
    "bridge.reload",
    "Reload the configuration file (only what changed restarts; a bad file changes nothing).",
    operation="bridge.reload",
)
async def _rpc_reload(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return await conn.control.reload_config("api")
