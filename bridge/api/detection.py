"""A camera's detection over REST: its state (``GET /api/cameras/{id}/detection``), the run-time
switch (``PUT``, like MQTT ``{base}/{camera}/detect/set``) and the best snapshot per label
(``GET /api/cameras/{id}/detection/{label}.jpg``, like MQTT ``{base}/{camera}/{label}/snapshot``).
A camera without detection (``detect.enabled: false``, or its model failed) is ``404``.
Switching publishes a ``detection.state`` event (``{camera, enabled}``)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core.errors import NotFound
from .errors import ApiError

if TYPE_CHECKING:
    from ..app import Bridge
    from ..detect.worker import DetectWorker

LABEL = re.compile(r"^[a-z0-9_]+$")


def setup(app: web.Application) -> None:
    """Add the detection routes."""
    app.router.add_get("/api/cameras/{id}/detection", get_detection, name="cameras.detection")
    app.router.add_put("/api/cameras/{id}/detection", set_detection, name="cameras.set_detection")
    app.router.add_get("/api/cameras/{id}/detection/{label}.jpg", best_snapshot, name="cameras.detection_snapshot")


def _worker(request: web.Request) -> DetectWorker:
    from .server import BRIDGE

    bridge: Bridge = request.app[BRIDGE]
    cam_id = request.match_info["id"]
    if cam_id not in bridge.cameras:
        raise NotFound(f"no camera {cam_id}")
    worker = bridge.detectors.get(cam_id)
    if worker is None:
        raise NotFound(f"camera {cam_id} has no detection")
    return worker


def detection_view(worker: DetectWorker) -> dict[str, Any]:
    """``{camera, enabled, motion, counts: {label: objects now}, snapshots: [labels with a best
    snapshot], stats: {fps, inference_ms, frames, runs, skipped}}``."""
    return {"camera": worker.camera_id, "enabled": worker.enabled, "motion": worker.motion,
            "counts": dict(worker.counts), "snapshots": sorted(worker.snapshots),
            "stats": worker.stats.as_payload()}


async def get_detection(request: web.Request) -> web.Response:
    """The camera's detection state."""
    return web.json_response(detection_view(_worker(request)))


async def set_detection(request: web.Request) -> web.Response:
    """Body ``{"enabled": bool}``: switch the camera's detection at run time (off ends every
    event); answers the detection state. 400 for another body."""
    worker = _worker(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"enabled": true} or {"enabled": false}')
    worker.set_enabled(body["enabled"])
    return web.json_response(detection_view(worker))


async def best_snapshot(request: web.Request) -> web.Response:
    """The JPEG of the label's current or last best detection (boxes drawn); 404 before one."""
    worker = _worker(request)
    label = request.match_info["label"]
    jpeg = worker.snapshots.get(label) if LABEL.match(label) else None
    if jpeg is None:
        raise NotFound(f"camera {worker.camera_id} has no {label} snapshot yet")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-cache"})
