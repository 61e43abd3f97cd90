"""A camera's on/off switch over the API: ``PUT /api/cameras/{id}/enabled`` (body
``{"enabled": bool}``) and JSON-RPC ``cameras.set_enabled`` (role operator), like MQTT
``{base}/{camera}/enabled/set``. Off stops the camera (state ``disabled``, no connection, no
snapshots), on starts it again; the switch is kept across restarts, for YAML and API cameras.
Switching publishes a ``camera.enabled`` event (``{camera, enabled}``) and a ``camera.status``
event with the new state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from ..core.errors import NotFound
from . import rpc
from .cameras import camera_view
from .errors import ApiError

if TYPE_CHECKING:
    from ..app import Bridge


def setup(app: web.Application) -> None:
    """Add the on/off route."""
    app.router.add_put("/api/cameras/{id}/enabled", set_enabled, name="cameras.set_enabled")


def switch_view(bridge: Bridge, cam_id: str, source: str) -> dict[str, Any]:
    """The camera as ``GET /api/cameras/{id}`` shows it (``enabled`` and ``state`` included)."""
    return camera_view(bridge.cameras[cam_id], source, bridge)




async def set_enabled(request: web.Request) -> web.Response:
    """Body ``{"enabled": true|false}``: answers the camera (200); 400 for another body."""
    from .server import BRIDGE, REGISTRY

    bridge: Bridge = request.app[BRIDGE]
    cam_id = request.match_info["id"]
    if cam_id not in bridge.cameras:
        raise NotFound(f"no camera {cam_id}")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from None
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    await bridge.set_camera_enabled(cam_id, body["enabled"])
    return web.json_response(switch_view(bridge, cam_id, request.app[REGISTRY].source(cam_id)))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


@rpc.method("cameras.set_enabled", "Switch a camera on or off (off: no connection, state disabled; "
            "kept across restarts); returns the camera.", rpc.CAMERA_ID,
            rpc.Param("enabled", _flag, "boolean", "false to switch the camera off"))
async def _rpc_set_enabled(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    rpc.find_camera(conn, params["id"])
    await conn.bridge.set_camera_enabled(params["id"], params["enabled"])
    source = conn.registry.source(params["id"]) if conn.registry is not None else "yaml"
    return switch_view(conn.bridge, params["id"], source)
