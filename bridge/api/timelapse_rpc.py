"""JSON-RPC methods for timelapses (registered in bridge/api/rpc.py's table), mirroring the
REST routes of bridge/api/timelapses.py. Errors (from the table of bridge/api/errors.py):
``-32001 not_found``, ``-32002 conflict`` (exists, YAML-defined, or the action does not apply
now), ``-32003 invalid_config``. Render
progress arrives as ``timelapse.render`` events (``events.subscribe``)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from ..core.control import TIMELAPSE_ACTIONS
from .rpc import Connection, Param, method, object_param, text_param
from .timelapses import DEFAULT_LIMIT, MAX_LIMIT, frame_view, video_view

TIMELAPSE_ID = Param("id", text_param, "string", "timelapse id")


def _count(low: int, high: int) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise vol.Invalid(f"expected an integer from {low} to {high}")
        return value

    return check


def _action(value: Any) -> str:
    if value not in TIMELAPSE_ACTIONS:
        raise vol.Invalid(f"expected one of {', '.join(TIMELAPSE_ACTIONS)}")
    return str(value)


@method("timelapses.list", "Every timelapse with its state, counts and effective settings.")
async def _list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return {"timelapses": conn.view.timelapses()}


@method("timelapses.get", "One timelapse (settings with the level each came from).", TIMELAPSE_ID)
async def _get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return conn.view.timelapse(params["id"])


@method(
    "timelapses.add",
    "Create a timelapse (persisted); returns it.",
    Param("id", text_param, "string", "timelapse id (default: from name or camera)", required=False),
    Param("camera", text_param, "string", "camera id"),
    more_params="the timelapse's options as in the configuration's timelapses section",
)
async def _add(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    return conn.view.timelapse(await conn.control.add_timelapse(params))


@method(
    "timelapses.update",
    "Change a timelapse created through the API.",
    TIMELAPSE_ID,
    Param("changes", object_param, "object", "options to change (null: inherit again)"),
)
async def _update(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.update_timelapse(params["id"], params["changes"])
    return conn.view.timelapse(params["id"])


@method("timelapses.remove", "Delete a timelapse created through the API, with its files.", TIMELAPSE_ID)
async def _remove(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.remove_timelapse(params["id"])
    return {"id": params["id"], "removed": True}


@method(
    "timelapses.action",
    "start, pause, resume, stop, render or cancel (a render).",
    TIMELAPSE_ID,
    Param("action", _action, "string", "one of " + ", ".join(TIMELAPSE_ACTIONS)),
)
async def _act(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.timelapse_action(params["id"], params["action"])
    return conn.view.timelapse(params["id"])


@method(
    "timelapses.frames",
    "Kept frames, oldest first, paged.",
    TIMELAPSE_ID,
    Param("offset", _count(0, 10**9), "integer", "frames to skip (default 0)", required=False),
    Param("limit", _count(1, MAX_LIMIT), "integer", f"page size (default {DEFAULT_LIMIT})", required=False),
)
async def _frames(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    tl_id = conn.view.timelapse(params["id"])["id"]
    offset, limit = params.get("offset", 0), params.get("limit", DEFAULT_LIMIT)
    total, rows = await conn.view.timelapse_frames(tl_id, offset, limit)
    return {
        "timelapse": tl_id,
        "total": total,
        "offset": offset,
        "limit": limit,
        "frames": [frame_view(tl_id, row) for row in rows],
    }


@method("timelapses.videos", "Rendered videos, newest first (download them over HTTP).", TIMELAPSE_ID)
async def _videos(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    tl_id = conn.view.timelapse(params["id"])["id"]
    rows = await conn.view.timelapse_videos(tl_id)
    return {"timelapse": tl_id, "videos": [video_view(tl_id, row) for row in rows]}
