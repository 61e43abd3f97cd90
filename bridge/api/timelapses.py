"""REST routes for timelapses: CRUD, actions, paged frames, videos (HTTP range requests) and
thumbnails. Files are addressed by their database id only: no client-supplied path ever reaches
the file system, so traversal attempts are simply unknown ids (404)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..status import iso_utc
from ..core.errors import NotFound, NotRunning
from ..timelapse.state import ACTIONS
from .auth import PRINCIPAL
from .errors import ApiError

if TYPE_CHECKING:
    from ..timelapse.manager import TimelapseManager
    from ..timelapse.state import Runtime
    from ..timelapse.storage import FrameRow, VideoRow

MAX_LIMIT = 1000  #: most frames in one page
DEFAULT_LIMIT = 100


def setup(app: web.Application) -> None:
    """Add the timelapse routes (and the JSON-RPC methods, bridge/api/timelapse_rpc.py)."""
    from . import timelapse_rpc  # noqa: F401 - registers the methods

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
    r.add_get("/api/timelapses/{id}/videos/{video}/thumbnail.jpg", video_thumbnail,
              name="timelapses.video_thumbnail")


def manager_of(app: web.Application) -> TimelapseManager:
    """The bridge's timelapse manager. Raises NotRunning when it is not running."""
    from .server import BRIDGE

    manager = app[BRIDGE].timelapses
    if manager is None:
        raise NotRunning("timelapses are not running yet")
    return manager


def frame_view(tl_id: str, row: FrameRow) -> dict[str, Any]:
    """A stored frame as the API shows it (times ISO 8601 UTC, size bytes, pixels)."""
    return {"id": row.id, "captured_at": iso_utc(row.captured_at), "size": row.size,
            "width": row.width, "height": row.height, "score": row.score,
            "flags": [f for f in row.flags.split(",") if f],
            "url": f"/api/timelapses/{tl_id}/frames/{row.id}"}


def video_view(tl_id: str, row: VideoRow) -> dict[str, Any]:
    """A rendered video as the API shows it (duration seconds, size bytes)."""
    base = f"/api/timelapses/{tl_id}/videos/{row.id}"
    return {"id": row.id, "created_at": iso_utc(row.created_at), "frames": row.frames,
            "duration": row.duration, "size": row.size, "width": row.width, "height": row.height,
            "fps": row.fps, "first_at": iso_utc(row.first_at), "last_at": iso_utc(row.last_at),
            "url": base, "thumbnail_url": f"{base}/thumbnail.jpg" if row.thumbnail else None}


def _sees(request: web.Request, rt: Runtime) -> bool:
    """Whether the caller may see timelapse ``rt`` (a key limited to cameras sees only theirs)."""
    principal = request.get(PRINCIPAL)
    return principal is None or principal.sees(rt.spec.camera)


def _runtime(request: web.Request) -> tuple[TimelapseManager, Runtime]:
    manager = manager_of(request.app)
    rt = manager.get(request.match_info["id"])
    if not _sees(request, rt):  # as if it did not exist: its id does not leak
        raise NotFound(f"no timelapse {rt.id}")
    return manager, rt


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
    manager = manager_of(request.app)
    return web.json_response({"timelapses": [manager.view(rt) for rt in list(manager.timelapses.values())
                                             if _sees(request, rt)]})


async def get_timelapse(request: web.Request) -> web.Response:
    manager, rt = _runtime(request)
    return web.json_response(manager.view(rt))


async def add_timelapse(request: web.Request) -> web.Response:
    body = await _json_body(request)
    manager = manager_of(request.app)
    rt = await manager.create(body)
    return web.json_response(manager.view(rt), status=201, headers={"Location": f"/api/timelapses/{rt.id}"})


async def update_timelapse(request: web.Request) -> web.Response:
    body = await _json_body(request)
    manager = manager_of(request.app)
    rt = await manager.update(request.match_info["id"], body)
    return web.json_response(manager.view(rt))


async def remove_timelapse(request: web.Request) -> web.Response:
    manager = manager_of(request.app)
    await manager.remove(request.match_info["id"])
    return web.Response(status=204)


async def action(request: web.Request) -> web.Response:
    """``start``, ``pause``, ``resume``, ``stop``, ``render`` or ``cancel`` (a render)."""
    manager, rt = _runtime(request)
    name = request.match_info["action"]
    if name not in ACTIONS:
        raise NotFound(f"no action {name} (expected one of {', '.join(ACTIONS)})")
    await manager.act(rt.id, name)
    return web.json_response(manager.view(rt), status=202 if name == "render" else 200)


async def list_frames(request: web.Request) -> web.Response:
    """Kept frames, oldest first: ``?offset=`` (default 0) and ``?limit=`` (default 100)."""
    manager, rt = _runtime(request)
    offset = _number(request.query.get("offset"), "offset", 0, 0, 10**9)
    limit = _number(request.query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    rows = await asyncio.to_thread(manager.tstore.frames, rt.id, offset, limit)
    total, _size, _last = await asyncio.to_thread(manager.tstore.frame_stats, rt.id)
    return web.json_response({"timelapse": rt.id, "total": total, "offset": offset, "limit": limit,
                              "frames": [frame_view(rt.id, row) for row in rows]})


async def list_videos(request: web.Request) -> web.Response:
    manager, rt = _runtime(request)
    rows = await asyncio.to_thread(manager.tstore.videos, rt.id)
    return web.json_response({"timelapse": rt.id, "videos": [video_view(rt.id, row) for row in rows]})


def _file(path: Any, content_type: str) -> web.FileResponse:
    if not path.is_file():
        raise NotFound("the file is gone (deleted by retention)")
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "max-age=3600"})


async def frame_jpeg(request: web.Request) -> web.StreamResponse:
    manager, rt = _runtime(request)
    frame_id = _row_id(request.match_info["frame"])
    row = await asyncio.to_thread(manager.tstore.frame, rt.id, frame_id) if frame_id is not None else None
    if row is None:
        raise NotFound(f"timelapse {rt.id} has no frame {request.match_info['frame']}")
    return _file(manager.tstore.path(row.path), "image/jpeg")


async def _video(request: web.Request) -> tuple[TimelapseManager, VideoRow]:
    manager, rt = _runtime(request)
    video_id = _row_id(request.match_info["video"])
    row = await asyncio.to_thread(manager.tstore.video, rt.id, video_id) if video_id is not None else None
    if row is None:
        raise NotFound(f"timelapse {rt.id} has no video {request.match_info['video']}")
    return manager, row


async def video_file(request: web.Request) -> web.StreamResponse:
    """The MP4; ``Range`` requests get 206 partial content (players seek with them)."""
    manager, row = await _video(request)
    return _file(manager.tstore.path(row.path), "video/mp4")


async def video_thumbnail(request: web.Request) -> web.StreamResponse:
    manager, row = await _video(request)
    if row.thumbnail is None:
        raise NotFound(f"video {row.id} has no thumbnail")
    return _file(manager.tstore.path(row.thumbnail), "image/jpeg")


async def thumbnail(request: web.Request) -> web.StreamResponse:
    """A small JPEG of the timelapse's latest frame (refreshed at most every minute)."""
    manager, rt = _runtime(request)
    path = manager.thumbnail_path(rt.id)
    if not path.is_file():
        raise NotFound(f"timelapse {rt.id} has no frame yet")
    return _file(path, "image/jpeg")
