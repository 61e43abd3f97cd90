"""A camera's on/off switch over the API: ``PUT /api/cameras/{id}/enabled`` (body
``{"enabled": bool}``) and JSON-RPC ``cameras.set_enabled`` (role operator), like MQTT
``{base}/{camera}/enabled/set``: all three call ``BridgeControl.set_enabled``. Off stops the
camera (state ``disabled``, no connection, no snapshots), on starts it again; the switch is kept
across restarts, for YAML and API cameras. Switching publishes a ``camera.enabled`` event
(``{camera, enabled}``) and a ``camera.status`` event with the new state."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import rpc
from .cameras import camera_view
from .errors import ApiError
from .keys import control_of, view_of


def setup(app: web.Application) -> None:
    """Add the on/off route."""
    app.router.add_put("/api/cameras/{id}/enabled", set_enabled, name="cameras.set_enabled")


async def set_enabled(request: web.Request) -> web.Response:
    """Body ``{"enabled": true|false}``: answers the camera (200); 400 for another body."""
    view = view_of(request)
    cam_id = request.match_info["id"]
    view.camera(cam_id)  # an unknown camera is 404 whatever the body
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from None
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    await control_of(request).set_enabled(cam_id, body["enabled"])
    return web.json_response(camera_view(view, cam_id))


@rpc.method(
    "cameras.set_enabled",
    "Switch a camera on or off (off: no connection, state disabled; kept across restarts); returns the camera.",
    rpc.CAMERA_ID,
    rpc.Param("enabled", rpc.flag_param, "boolean", "false to switch the camera off"),
)
async def _rpc_set_enabled(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.set_enabled(params["id"], params["enabled"])
    return camera_view(conn.view, params["id"])
