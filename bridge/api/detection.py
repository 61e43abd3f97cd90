"""A camera's detection over REST: its state (``GET /api/cameras/{id}/detection``), the run-time
switch (``PUT``, like MQTT ``{base}/{camera}/detect/set``: both call
``BridgeControl.set_detection``) and the best snapshot per label
(``GET /api/cameras/{id}/detection/{label}.jpg``, like MQTT ``{base}/{camera}/{label}/snapshot``),
recent events by id (``GET /api/events/{event}``, ``.../snapshot.jpg``, ``.../clip.mp4``) and a
camera's clips (``GET /api/cameras/{id}/clips``).
A camera without detection (``detect.enabled: false``, or its model failed) is ``404``.
Switching publishes a ``detection.state`` event (``{camera, enabled}``)."""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from ..core.errors import NotFound
from .errors import ApiError
from .keys import control_of, view_of

LABEL = re.compile(r"^[a-z0-9_]+$")
#: a detection event's id (``<ms>-<n>``)
EVENT_ID = re.compile(r"^[0-9]{1,16}-[0-9]{1,12}$")


def setup(app: web.Application) -> None:
    """Add the detection routes."""
    app.router.add_get("/api/cameras/{id}/detection", get_detection, name="cameras.detection")
    app.router.add_put("/api/cameras/{id}/detection", set_detection, name="cameras.set_detection")
    app.router.add_get("/api/cameras/{id}/detection/{label}.jpg", best_snapshot, name="cameras.detection_snapshot")
    app.router.add_get("/api/cameras/{id}/clips", camera_clips, name="cameras.clips")
    app.router.add_get("/api/events/{event}", get_event, name="events.get")
    app.router.add_get("/api/events/{event}/snapshot.jpg", event_snapshot, name="events.snapshot")
    app.router.add_get("/api/events/{event}/clip.mp4", event_clip, name="events.clip")


async def get_detection(request: web.Request) -> web.Response:
    """The camera's detection state: ``{camera, enabled, motion, counts: {label: objects now},
    snapshots: [labels with a best snapshot], stats: {fps, inference_ms, frames, runs, skipped}}``."""
    return web.json_response(view_of(request).detection(request.match_info["id"]))


async def set_detection(request: web.Request) -> web.Response:
    """Body ``{"enabled": bool}``: switch the camera's detection at run time (off ends every
    event); answers the detection state. 400 for another body."""
    view = view_of(request)
    cam_id = request.match_info["id"]
    view.detection(cam_id)  # no such camera, or no detection: 404 whatever the body
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    control_of(request).set_detection(cam_id, body["enabled"])
    return web.json_response(view.detection(cam_id))


async def best_snapshot(request: web.Request) -> web.Response:
    """The JPEG of the label's current or last best detection (boxes drawn); 404 before one."""
    view = view_of(request)
    cam_id, label = request.match_info["id"], request.match_info["label"]
    view.detection(cam_id)  # no such camera, or no detection: 404
    jpeg = view.best_snapshot(cam_id, label) if LABEL.match(label) else None
    if jpeg is None:
        raise NotFound(f"camera {cam_id} has no {label} snapshot yet")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-cache"})


async def camera_clips(request: web.Request) -> web.Response:
    """The camera's event clips on disk, newest first: ``{camera, clips: [{id, camera,
    started_at, ended_at, size, url, snapshot_url, label}]}`` (empty for a camera without
    clips); 404 for an unknown camera."""
    cam_id = request.match_info["id"]
    clips = await view_of(request).event_clips(cam_id)
    return web.json_response({"camera": cam_id, "clips": clips})


def _event_id(request: web.Request) -> str:
    event_id = request.match_info["event"]
    if not EVENT_ID.match(event_id):
        raise ApiError(400, "invalid_parameter", f"expected an event id like 1764312687243-7, got {event_id[:40]!r}")
    return event_id


async def get_event(request: web.Request) -> web.Response:
    """A recent detection event: ``{id, camera, event, snapshot_url, clip_url}``; 404 for an
    unknown (or forgotten) one."""
    return web.json_response(view_of(request).event(_event_id(request)))


async def event_snapshot(request: web.Request) -> web.Response:
    """The event's snapshot: full-size JPEG, box drawn; 404 when it has none."""
    jpeg = view_of(request).event_snapshot(_event_id(request))
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-cache"})


async def event_clip(request: web.Request) -> web.StreamResponse:
    """The event's MP4 clip (``Range`` requests answered 206); 404 when it has none."""
    event_id = _event_id(request)
    path = await asyncio.to_thread(view_of(request).event_clip, event_id)
    return web.FileResponse(path, headers={"Content-Type": "video/mp4", "Cache-Control": "no-cache"})
