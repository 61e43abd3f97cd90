"""REST routes for cameras: registry (list, get, add, change, remove), snapshot, MJPEG."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from ..config import camera_data
from ..redact import mask_url
from ..core.errors import NoSnapshot, NotFound
from .auth import PRINCIPAL
from .errors import ApiError

if TYPE_CHECKING:
    from ..app import Bridge
    from ..camera import Camera
    from ..registry import Registry

MJPEG_BOUNDARY = "frame"
MJPEG_CHECK = 5.0  #: seconds between checks that an MJPEG stream's camera still exists


def setup(app: web.Application) -> None:
    """Add the camera routes."""
    app.router.add_get("/api/cameras", list_cameras, name="cameras.list")
    app.router.add_post("/api/cameras", add_camera, name="cameras.add")
    app.router.add_get("/api/cameras/{id}", get_camera, name="cameras.get")
    app.router.add_patch("/api/cameras/{id}", update_camera, name="cameras.update")
    app.router.add_delete("/api/cameras/{id}", remove_camera, name="cameras.remove")
    app.router.add_get("/api/cameras/{id}/snapshot.jpg", snapshot_jpeg, name="cameras.snapshot")
    app.router.add_post("/api/cameras/{id}/snapshot", snapshot_now, name="cameras.snapshot_now")
    app.router.add_get("/api/cameras/{id}/mjpeg", mjpeg, name="cameras.mjpeg")


def _bridge(request: web.Request) -> Bridge:
    from .server import BRIDGE

    return request.app[BRIDGE]


def _registry(request: web.Request) -> Registry:
    from .server import REGISTRY

    return request.app[REGISTRY]


def camera_view(camera: Camera, source: str, bridge: Bridge | None = None) -> dict[str, Any]:
    """A camera as the API shows it: options (credentials masked) merged with runtime status;
    with MediaMTX (``bridge.mediamtx``) its stream URLs and ``mediamtx`` path metrics."""
    media = bridge.mediamtx if bridge is not None else None
    data = camera_data(camera.config)
    if data.get("url"):
        data["url"] = mask_url(data["url"])
    return {
        "id": camera.id,
        "name": camera.config.display_name,
        "source": source,
        "kind": camera.config.kind,
        **{k: v for k, v in data.items() if k != "name"},
        **camera.status.as_payload(),
        "enabled": bridge is None or camera.id not in bridge.disabled,
        "stream_urls": media.stream_urls(camera.id) if media is not None else {},
        "mediamtx": None if media is None else {
            **media.camera_info(camera.id),
            "read_via": bridge.restream.via(camera.id) if bridge.restream is not None else "direct"},
    }


def _camera(request: web.Request) -> Camera:
    cam_id = request.match_info["id"]
    camera = _bridge(request).cameras.get(cam_id)
    if camera is None:
        raise NotFound(f"no camera {cam_id}")
    return camera


async def list_cameras(request: web.Request) -> web.Response:
    registry = _registry(request)
    principal = request.get(PRINCIPAL)
    cams = [camera_view(c, registry.source(c.id), _bridge(request)) for c in _bridge(request).cameras.values()
            if principal is None or principal.sees(c.id)]
    return web.json_response({"cameras": cams})


async def get_camera(request: web.Request) -> web.Response:
    camera = _camera(request)
    return web.json_response(camera_view(camera, _registry(request).source(camera.id), _bridge(request)))


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None


async def add_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    config = await _registry(request).add(body)
    camera = _bridge(request).cameras[config.id]
    return web.json_response(camera_view(camera, "api", _bridge(request)), status=201,
                             headers={"Location": f"/api/cameras/{config.id}"})


async def update_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    config = await _registry(request).update(request.match_info["id"], body)
    return web.json_response(camera_view(_bridge(request).cameras[config.id], "api", _bridge(request)))


async def remove_camera(request: web.Request) -> web.Response:
    await _registry(request).remove(request.match_info["id"])
    return web.Response(status=204)


def _width(request: web.Request) -> int | None:
    raw = request.query.get("width")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 16 <= int(raw) <= 7680:
        raise ApiError(400, "invalid_parameter", "width: expected an integer from 16 to 7680 (pixels)")
    return int(raw)


def downscale(jpeg: bytes, width: int, quality: int) -> bytes:
    """``jpeg`` re-encoded ``width`` pixels wide (aspect kept, height at least 2 pixels) at JPEG
    ``quality`` (1-100). Blocking (decode and encode): run it in an executor. Raises
    ValueError when the JPEG cannot be decoded or encoded."""
    import cv2  # OpenCV only once a downscaled snapshot is asked for

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable JPEG")
    height = max(2, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encode failed")
    return buf.tobytes()


async def snapshot_jpeg(request: web.Request) -> web.Response:
    """The latest snapshot; ``?width=`` downscales; ETag/Last-Modified; 503 when none yet."""
    camera = _camera(request)
    width = _width(request)
    worker = _bridge(request).snapshots.get(camera.id)
    snap = worker.latest if worker is not None else None
    if snap is None:
        status = camera.status
        reason = f"camera {camera.id} has no snapshot yet (state {status.state}"
        reason += f": {status.error})" if status.error else ")"
        raise NoSnapshot(reason, str(status.state))
    digest = hashlib.blake2b(snap.jpeg, digest_size=8).hexdigest()
    etag = f'"{digest}-{width or snap.width}"'
    headers = {"ETag": etag, "Last-Modified": formatdate(snap.taken_at, usegmt=True),
               "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    body = snap.jpeg
    if width is not None and width < snap.width:
        from .work import IMAGES

        body = await IMAGES.run(downscale, snap.jpeg, width, camera.config.snapshot.quality)
    return web.Response(body=body, content_type="image/jpeg", headers=headers)


async def snapshot_now(request: web.Request) -> web.Response:
    """Ask for a fresh snapshot from the next keyframe (like MQTT ``snapshot/set``)."""
    camera = _camera(request)
    _bridge(request).snapshots[camera.id].request()
    return web.json_response({"camera": camera.id, "requested": True}, status=202)


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """``multipart/x-mixed-replace`` stream of fresh snapshots (browsers, HA's MJPEG camera)."""
    camera = _camera(request)
    worker = _bridge(request).snapshots[camera.id]
    response = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
        "Cache-Control": "no-cache"})
    await response.prepare(request)
    snap = worker.latest
    bridge = _bridge(request)
    from .budget import write
    from .server import tracked_stream

    try:
        with tracked_stream(request), contextlib.suppress(asyncio.CancelledError):
            while bridge.snapshots.get(camera.id) is worker:  # ends when the camera is replaced
                if snap is not None:
                    part = (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(snap.jpeg)}\r\n\r\n").encode() + snap.jpeg + b"\r\n"
                    await write(request, response, part)  # a client that stops reading is dropped
                snap = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(MJPEG_CHECK):
                        snap = await worker.next_snapshot()
    except ConnectionResetError:  # the client went away: the normal end of a stream
        pass
    return response
