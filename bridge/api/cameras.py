"""REST routes for cameras: registry (list, get, add, change, remove), snapshot, MJPEG; and
:func:`camera_view`, a camera as the API shows it (REST and JSON-RPC alike)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import numpy as np
from aiohttp import web

from ..config import CameraConfig, camera_data
from ..core.errors import NotFound, StaleSnapshot
from ..core.view import BridgeView, SnapshotImage
from ..redact import mask_url
from ..status import iso_utc
from .auth import PRINCIPAL
from .errors import ApiError
from .keys import control_of, tracked_stream, view_of

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


def camera_view(view: BridgeView, cam_id: str) -> dict[str, Any]:
    """A camera as the API shows it: options (credentials masked) merged with runtime status,
    its switch, and with MediaMTX its stream URLs and ``mediamtx`` path metrics. Raises
    NotFound.

    In cluster mode a camera of the shared registry that runs on another bridge is shown too,
    from the registry as last read: ``owner`` (its lease holder), ``epoch``, ``assigned``,
    ``state`` and ``stream_urls`` as its owner last wrote them (``remote: true``)."""
    try:
        config = view.camera(cam_id)
    except NotFound:
        return _remote_view(view, cam_id)
    data = _masked(config)
    urls, media = view.streams(cam_id)
    return {
        "id": cam_id,
        "name": config.display_name,
        "source": view.camera_source(cam_id),
        "kind": config.kind,
        **{k: v for k, v in data.items() if k != "name"},
        **view.camera_status(cam_id).as_payload(),
        "enabled": view.enabled(cam_id),
        "stream_urls": urls,
        "mediamtx": media,
        **view.cluster_fields(cam_id),
    }


def _masked(config: CameraConfig) -> dict[str, Any]:
    data = camera_data(config)
    if data.get("url"):
        data["url"] = mask_url(data["url"])
    for stream in data.get("streams") or ():
        stream["url"] = mask_url(stream["url"])
    return data


def _remote_view(view: BridgeView, cam_id: str) -> dict[str, Any]:
    config, info = view.cluster_camera(cam_id)
    return {
        "id": cam_id,
        "name": config.display_name,
        "source": info["source"],
        "kind": config.kind,
        **{k: v for k, v in _masked(config).items() if k != "name"},
        "state": info["state"],
        "enabled": info["enabled"],
        "stream_urls": info["stream_urls"],
        "mediamtx": None,
        "owner": info["owner"],
        "epoch": info["epoch"],
        "assigned": info["assigned"],
        "remote": True,
    }


def camera_views(view: BridgeView, sees: Callable[[str], bool], *, remote: bool = False) -> list[dict[str, Any]]:
    """Every camera ``sees(id)`` allows, as :func:`camera_view` shows them: this bridge's, in
    start order; with ``remote`` (cluster mode) then the cluster's other cameras (``remote:
    true``, sorted). Without it the list is what this bridge runs, as clients that build one
    entity or picture per camera (the HA component, the web page) expect."""
    shown = []
    for cam_id in [*view.camera_ids(), *(view.cluster_camera_ids() if remote else [])]:
        if sees(cam_id):
            with contextlib.suppress(NotFound):  # gone (or not valid here) since the ids were read
                shown.append(camera_view(view, cam_id))
    return shown


def _remote(request: web.Request) -> bool:
    """``?remote=true|false`` (default false)."""
    raw = request.query.get("remote", "false")
    if raw not in ("true", "false"):
        raise ApiError(400, "invalid_parameter", f"remote: expected true or false, got {raw[:20]!r}")
    return raw == "true"


async def list_cameras(request: web.Request) -> web.Response:
    """The cameras this bridge runs; ``?remote=true`` adds the cluster's others (:func:`camera_views`);
    a key limited to some cameras sees only those."""
    principal = request.get(PRINCIPAL)
    return web.json_response(
        {
            "cameras": camera_views(
                view_of(request), lambda cam_id: principal is None or principal.sees(cam_id), remote=_remote(request)
            )
        }
    )


async def get_camera(request: web.Request) -> web.Response:
    return web.json_response(camera_view(view_of(request), request.match_info["id"]))


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None


async def add_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    cam_id = await control_of(request).add_camera(body)
    shown = camera_view(view_of(request), cam_id)
    # cluster mode: a camera another bridge runs is accepted here and streams on its owner
    status = 202 if shown.get("remote") else 201
    return web.json_response(shown, status=status, headers={"Location": f"/api/cameras/{cam_id}"})


async def update_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    cam_id = await control_of(request).update_camera(request.match_info["id"], body)
    return web.json_response(camera_view(view_of(request), cam_id))


async def remove_camera(request: web.Request) -> web.Response:
    await control_of(request).remove_camera(request.match_info["id"])
    return web.Response(status=204)


def _width(request: web.Request) -> int | None:
    raw = request.query.get("width")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 16 <= int(raw) <= 7680:
        raise ApiError(400, "invalid_parameter", "width: expected an integer from 16 to 7680 (pixels)")
    return int(raw)


MAX_AGE_LIMIT = 86400.0  #: seconds, the largest ``max_age`` accepted


def _max_age(request: web.Request) -> float | None:
    """``?max_age=SECONDS`` (a number from 0 to one day), or None when not given."""
    raw = request.query.get("max_age")
    if raw is None:
        return None
    try:
        value = float(raw) if len(raw) <= 20 else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_AGE_LIMIT:  # also refuses nan and inf
        raise ApiError(
            400,
            "invalid_parameter",
            f"max_age: expected a number of seconds from 0 to {MAX_AGE_LIMIT:g}, got {raw[:40]!r}",
        )
    return value


def fresh_snapshot(view: BridgeView, cam_id: str, max_age: float | None) -> SnapshotImage:
    """The camera's latest snapshot, refused when its frame is older than ``max_age`` seconds
    (None: any age). Raises NotFound, NoSnapshot, StaleSnapshot (``age``, ``taken_at``,
    ``state``)."""
    snap = view.snapshot(cam_id)
    age = time.time() - snap.taken_at
    if max_age is not None and age > max_age:
        state = str(view.camera_status(cam_id).state)
        raise StaleSnapshot(
            f"camera {cam_id}: the latest snapshot is {age:.1f} s old (max_age {max_age:g} s; state {state})",
            round(age, 1),
            iso_utc(snap.taken_at) or "",
            state,
        )
    return snap


def frame_headers(snap: SnapshotImage) -> dict[str, str]:
    """How old a picture is: ``Last-Modified`` (HTTP date, whole seconds) and ``X-Frame-Time``
    (ISO 8601 UTC with milliseconds), both the capture time of its frame."""
    return {"Last-Modified": formatdate(snap.taken_at, usegmt=True), "X-Frame-Time": iso_utc(snap.taken_at) or ""}


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


class Downscales:
    """The downscaled snapshots of one API application, each made once: requests for the same
    picture at the same width and quality (every viewer of a grid, a page that asks again)
    share one job of the :data:`~bridge.api.work.IMAGES` pool, running or done. Keeps the
    ``size`` most recent (about 30 KB each at 640 pixels); a job that failed is forgotten, so
    the next request tries again."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._jobs: OrderedDict[tuple[str, int, int], asyncio.Future[bytes]] = OrderedDict()

    async def get(self, digest: str, jpeg: bytes, width: int, quality: int) -> bytes:
        """``jpeg`` (whose content hash is ``digest``) ``width`` pixels wide at JPEG ``quality``.
        Raises :class:`~bridge.api.work.Busy` when the pool refuses a new job, ValueError when
        the picture cannot be decoded or encoded."""
        from .work import IMAGES

        key = (digest, width, quality)
        job = self._jobs.get(key)
        if job is None:
            job = asyncio.ensure_future(IMAGES.run(downscale, jpeg, width, quality))
            self._jobs[key] = job
            job.add_done_callback(lambda done: self._forget_failed(key, done))
            while len(self._jobs) > self.size:
                self._jobs.popitem(last=False)
        else:
            self._jobs.move_to_end(key)
        return await asyncio.shield(job)  # a caller that goes away does not cancel the others' job

    def _forget_failed(self, key: tuple[str, int, int], job: asyncio.Future[bytes]) -> None:
        if (job.cancelled() or job.exception() is not None) and self._jobs.get(key) is job:
            del self._jobs[key]


_DOWNSCALES: weakref.WeakKeyDictionary[web.Application, Downscales] = weakref.WeakKeyDictionary()


def downscales(app: web.Application) -> Downscales:
    """The :class:`Downscales` of ``app``."""
    found = _DOWNSCALES.get(app)
    if found is None:
        found = _DOWNSCALES[app] = Downscales()
    return found


async def snapshot_jpeg(request: web.Request) -> web.Response:
    """The latest snapshot; ``?width=`` downscales (once per picture and width: see
    :class:`Downscales`); ETag/Last-Modified/X-Frame-Time; 503 when none yet, or
    (``?max_age=``) when the latest is older than ``max_age`` seconds."""
    view = view_of(request)
    cam_id = request.match_info["id"]
    width = _width(request)
    max_age = _max_age(request)
    snap = fresh_snapshot(view, cam_id, max_age)
    digest = hashlib.blake2b(snap.jpeg, digest_size=8).hexdigest()
    etag = f'"{digest}-{width or snap.width}"'
    headers = {"ETag": etag, **frame_headers(snap), "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    body = snap.jpeg
    if width is not None and width < snap.width:
        quality = view.camera(cam_id).snapshot.quality
        body = await downscales(request.app).get(digest, snap.jpeg, width, quality)
    return web.Response(body=body, content_type="image/jpeg", headers=headers)


async def snapshot_now(request: web.Request) -> web.Response:
    """Ask for a fresh snapshot from the next keyframe (like MQTT ``snapshot/set``)."""
    cam_id = request.match_info["id"]
    control_of(request).request_snapshot(cam_id)
    return web.json_response({"camera": cam_id, "requested": True}, status=202)


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """``multipart/x-mixed-replace`` stream of fresh snapshots (browsers, HA's MJPEG camera)."""
    view = view_of(request)
    cam_id = request.match_info["id"]
    feed = view.snapshot_feed(cam_id)
    response = web.StreamResponse(
        headers={"Content-Type": f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    snap = feed.latest
    from .budget import write

    try:
        with tracked_stream(request), contextlib.suppress(asyncio.CancelledError):
            while view.feed_current(cam_id, feed):  # ends when the camera is replaced
                if snap is not None:
                    times = "".join(f"{k}: {v}\r\n" for k, v in frame_headers(snap).items())
                    part = (
                        (
                            f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(snap.jpeg)}\r\n{times}\r\n"
                        ).encode()
                        + snap.jpeg
                        + b"\r\n"
                    )
                    await write(request, response, part)  # a client that stops reading is dropped
                snap = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(MJPEG_CHECK):
                        snap = await feed.next_snapshot()
    except ConnectionResetError:  # the client went away: the normal end of a stream
        pass
    return response
