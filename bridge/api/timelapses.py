"""REST routes for timelapses: CRUD, actions, paged frames, videos (HTTP range requests) and
thumbnails. Files are addressed by their database id only: no client-supplied path ever reaches
the file system, so traversal attempts are simply unknown ids (404)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from aiohttp import web

from ..core.control import TIMELAPSE_ACTIONS
from ..core.errors import NotFound
from ..status import iso_utc
from .auth import PRINCIPAL
from .errors import ApiError
from .keys import control_of, view_of

MAX_LIMIT = 1000  #: most frames in one page
DEFAULT_LIMIT = 100


def setup(app: web.Application) -> None:
    """Add the timelapse routes (the JSON-RPC methods are in bridge/api/timelapse_rpc.py)."""
    r = app.router
    r.add_get("/api/timelapses", list_timelapses, name="timelapses.list")
    r.add_post("/api/timelapses", add_timelapse, name="timelapses.add")
    r.add_get("/api/timelapses/{id}", get_timelapse, name="timelapses.get")
    r.add_patch("/api/timelapses/{id}", update_timelapse, name="timelapses.update")
    r.add_delete("/api/timelapses/{id}", remove_timelapse, name="timelapses.remove")
    r.add_post("/api/timelapses/{id}/actions/{action}", action, name="timelapses.action")
    r.add_get("/api/timelapses/{id}/thumbnail.jpg", thumbnail, name="timelapses.thumbnail")
    r.add_get("/api/timelapses/{id}/frames", list_frames, name="timelapses.frames")
    r.add_get("/api/timelapses/{id}/frames/{frame}", frame_jpeg, name="timelapses.frame")
    r.add_get("/api/timelapses/{id}/videos", list_videos, name="timelapses.videos")
    r.add_get("/api/timelapses/{id}/videos/{video}", video_file, name="timelapses.video")
    r.add_get("/api/timelapses/{id}/videos/{video}/thumbnail.jpg", video_thumbnail, name="timelapses.video_thumbnail")


def frame_view(tl_id: str, row: Any) -> dict[str, Any]:
    """A stored frame as the API shows it (times ISO 8601 UTC, size bytes, pixels)."""
    return {
        "id": row.id,
        "captured_at": iso_utc(row.captured_at),
        "size": row.size,
        "width": row.width,
        "height": row.height,
        "score": row.score,
        "flags": [f for f in row.flags.split(",") if f],
        "url": f"/api/timelapses/{tl_id}/frames/{row.id}",
    }


def video_view(tl_id: str, row: Any) -> dict[str, Any]:
    """A rendered video as the API shows it (duration seconds, size bytes)."""
    base = f"/api/timelapses/{tl_id}/videos/{row.id}"
    return {
        "id": row.id,
        "created_at": iso_utc(row.created_at),
        "frames": row.frames,
        "duration": row.duration,
        "size": row.size,
        "width": row.width,
        "height": row.height,
        "fps": row.fps,
        "first_at": iso_utc(row.first_at),
        "last_at": iso_utc(row.last_at),
        "url": base,
        "thumbnail_url": f"{base}/thumbnail.jpg" if row.thumbnail else None,
    }


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_parameter", f"{name}: expected an integer from {low} to {high}")
    return int(raw)


def _row_id(raw: str) -> int | None:
    """A database id from the URL, None when it is not one (``../x``, ``1.jpg``, ...)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None


async def list_timelapses(request: web.Request) -> web.Response:
    principal = request.get(PRINCIPAL)  # a key limited to some cameras sees their timelapses only
    return web.json_response(
        {"timelapses": [t for t in view_of(request).timelapses() if principal is None or principal.sees(t["camera"])]}
    )


async def get_timelapse(request: web.Request) -> web.Response:
    return web.json_response(view_of(request).timelapse(request.match_info["id"]))


async def add_timelapse(request: web.Request) -> web.Response:
    """201 with the new timelapse; in cluster mode, for a camera another bridge runs, 202 with
    ``remote: true``, ``owner`` (the camera's lease holder, None while none holds it) and
    ``assigned`` (the bridge it goes to): the timelapse is the cluster's, that bridge captures."""
    body = await _json_body(request)
    tl_id = await control_of(request).add_timelapse(body)
    view = view_of(request)
    shown = view.timelapse(tl_id)
    status = 201
    if shown["camera"] not in view.camera_ids():
        with contextlib.suppress(NotFound):
            _config, info = view.cluster_camera(shown["camera"])
            shown.update(remote=True, owner=info["owner"], assigned=info["assigned"])
            status = 202
    return web.json_response(shown, status=status, headers={"Location": f"/api/timelapses/{tl_id}"})


async def update_timelapse(request: web.Request) -> web.Response:
    body = await _json_body(request)
    tl_id = request.match_info["id"]
    await control_of(request).update_timelapse(tl_id, body)
    return web.json_response(view_of(request).timelapse(tl_id))


async def remove_timelapse(request: web.Request) -> web.Response:
    await control_of(request).remove_timelapse(request.match_info["id"])
    return web.Response(status=204)


async def action(request: web.Request) -> web.Response:
    """``start``, ``pause``, ``resume``, ``stop``, ``render`` or ``cancel`` (a render)."""
    view = view_of(request)
    tl_id = request.match_info["id"]
    view.timelapse(tl_id)  # an unknown timelapse is 404 before an unknown action
    name = request.match_info["action"]
    if name not in TIMELAPSE_ACTIONS:
        raise NotFound(f"no action {name} (expected one of {', '.join(TIMELAPSE_ACTIONS)})")
    await control_of(request).timelapse_action(tl_id, name)
    return web.json_response(view.timelapse(tl_id), status=202 if name == "render" else 200)


async def list_frames(request: web.Request) -> web.Response:
    """Kept frames, oldest first: ``?offset=`` (default 0) and ``?limit=`` (default 100)."""
    view = view_of(request)
    tl_id = view.timelapse(request.match_info["id"])["id"]
    offset = _number(request.query.get("offset"), "offset", 0, 0, 10**9)
    limit = _number(request.query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    total, rows = await view.timelapse_frames(tl_id, offset, limit)
    return web.json_response(
        {
            "timelapse": tl_id,
            "total": total,
            "offset": offset,
            "limit": limit,
            "frames": [frame_view(tl_id, row) for row in rows],
        }
    )


async def list_videos(request: web.Request) -> web.Response:
    view = view_of(request)
    tl_id = view.timelapse(request.match_info["id"])["id"]
    rows = await view.timelapse_videos(tl_id)
    return web.json_response({"timelapse": tl_id, "videos": [video_view(tl_id, row) for row in rows]})


def _file(path: Path, content_type: str) -> web.FileResponse:
    if not path.is_file():
        raise NotFound("the file is gone (deleted by retention)")
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "max-age=3600"})


async def frame_jpeg(request: web.Request) -> web.StreamResponse:
    view = view_of(request)
    tl_id = view.timelapse(request.match_info["id"])["id"]
    raw = request.match_info["frame"]
    frame_id = _row_id(raw)
    if frame_id is None:
        raise NotFound(f"timelapse {tl_id} has no frame {raw}")
    return _file(await view.timelapse_frame(tl_id, frame_id), "image/jpeg")


async def _video(request: web.Request) -> tuple[Path, Path | None]:
    view = view_of(request)
    tl_id = view.timelapse(request.match_info["id"])["id"]
    raw = request.match_info["video"]
    video_id = _row_id(raw)
    if video_id is None:
        raise NotFound(f"timelapse {tl_id} has no video {raw}")
    return await view.timelapse_video(tl_id, video_id)


async def video_file(request: web.Request) -> web.StreamResponse:
    """The MP4; ``Range`` requests get 206 partial content (players seek with them)."""
    path, _thumb = await _video(request)
    return _file(path, "video/mp4")


async def video_thumbnail(request: web.Request) -> web.StreamResponse:
    _path, thumb = await _video(request)
    if thumb is None:
        raise NotFound(f"video {request.match_info['video']} has no thumbnail")
    return _file(thumb, "image/jpeg")


async def thumbnail(request: web.Request) -> web.StreamResponse:
    """A small JPEG of the timelapse's latest frame (refreshed at most every minute)."""
    view = view_of(request)
    tl_id = request.match_info["id"]
    path = view.timelapse_thumbnail(tl_id)
    if not path.is_file():
        raise NotFound(f"timelapse {tl_id} has no frame yet")
    return _file(path, "image/jpeg")
