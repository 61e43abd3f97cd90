"""JSON-RPC methods for timelapses (registered in bridge/api/rpc.py's table), mirroring the
REST routes of bridge/api/timelapses.py. Errors (from the table of bridge/api/errors.py):
``-32001 not_found``, ``-32002 conflict`` (exists, YAML-defined, or the action does not apply
now), ``-32003 invalid_config``. Render
progress arrives as ``timelapse.render`` events (``events.subscribe``)."""

from __future__ import annotations

import asyncio
from typing import Any

import voluptuous as vol

from ..core.errors import NotRunning
from ..timelapse.state import ACTIONS
from .rpc import Connection, Param, method, object_param, text_param
from .timelapses import DEFAULT_LIMIT, MAX_LIMIT, frame_view, video_view

TIMELAPSE_ID = Param("id", text_param, "string", "timelapse id")


def _manager(conn: Connection) -> Any:
    manager = conn.bridge.timelapses
    if manager is None:
        raise NotRunning("timelapses are not running yet")
    return manager


def _count(low: int, high: int) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise vol.Invalid(f"expected an integer from {low} to {high}")
        return value
    return check


def _action(value: Any) -> str:
    if value not in ACTIONS:
        raise vol.Invalid(f"expected one of {', '.join(ACTIONS)}")
    return str(value)


@method("timelapses.list", "Every timelapse with its state, counts and effective settings.")
async def _list(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    return {"timelapses": [manager.view(rt) for rt in list(manager.timelapses.values())]}


@method("timelapses.get", "One timelapse (settings with the level each came from).", TIMELAPSE_ID)
async def _get(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    return manager.view(manager.get(params["id"]))


@method("timelapses.add", "Create a timelapse (persisted); returns it.",
        Param("id", text_param, "string", "timelapse id (default: from name or camera)", required=False),
        Param("camera", text_param, "string", "camera id"),
        more_params="the timelapse's options as in the configuration's timelapses section")
async def _add(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    return manager.view(await manager.create(params))


@method("timelapses.update", "Change a timelapse created through the API.", TIMELAPSE_ID,
        Param("changes", object_param, "object", "options to change (null: inherit again)"))
async def _update(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    return manager.view(await manager.update(params["id"], params["changes"]))


@method("timelapses.remove", "Delete a timelapse created through the API, with its files.",
        TIMELAPSE_ID)
async def _remove(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    await _manager(conn).remove(params["id"])
    return {"id": params["id"], "removed": True}


@method("timelapses.action", "start, pause, resume, stop, render or cancel (a render).", TIMELAPSE_ID,
        Param("action", _action, "string", "one of " + ", ".join(ACTIONS)))
async def _act(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    return manager.view(await manager.act(params["id"], params["action"]))


@method("timelapses.frames", "Kept frames, oldest first, paged.", TIMELAPSE_ID,
        Param("offset", _count(0, 10**9), "integer", "frames to skip (default 0)", required=False),
        Param("limit", _count(1, MAX_LIMIT), "integer", f"page size (default {DEFAULT_LIMIT})", required=False))
async def _frames(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    rt = manager.get(params["id"])
    offset, limit = params.get("offset", 0), params.get("limit", DEFAULT_LIMIT)
    rows = await asyncio.to_thread(manager.tstore.frames, rt.id, offset, limit)
    total = (await asyncio.to_thread(manager.tstore.frame_stats, rt.id))[0]
    return {"timelapse": rt.id, "total": total, "offset": offset, "limit": limit,
            "frames": [frame_view(rt.id, row) for row in rows]}


@method("timelapses.videos", "Rendered videos, newest first (download them over HTTP).", TIMELAPSE_ID)
async def _videos(conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
    manager = _manager(conn)
    rt = manager.get(params["id"])
    rows = await asyncio.to_thread(manager.tstore.videos, rt.id)
    return {"timelapse": rt.id, "videos": [video_view(rt.id, row) for row in rows]}
