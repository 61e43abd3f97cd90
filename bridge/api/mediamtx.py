"""MediaMTX routes: ``/health/mediamtx``, a camera's recording switch and its recordings, the
same as JSON-RPC methods, the ``mediamtx`` readiness check and MediaMTX metrics.

When ``mediamtx.enabled`` is false the recording routes answer 409 ``mediamtx_disabled``; while
MediaMTX does not answer, listing recordings answers 503 ``mediamtx_unavailable`` (a switch is
still saved and applied when MediaMTX returns).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core.errors import MediamtxDisabled, MediamtxDown, NotFound
from ..mediamtx.breaker import BreakerState, CircuitOpen
from ..mediamtx.client import MediamtxError
from . import health, rpc
from .errors import ApiError
from .metrics import METRICS, PREFIX

if TYPE_CHECKING:
    from ..app import Bridge
    from ..mediamtx.service import MediamtxService


def setup(app: web.Application) -> None:
    """Add the routes, the readiness check and the metrics collector."""
    from .server import BRIDGE

    app.router.add_get("/health/mediamtx", mediamtx_health, name="health.mediamtx")
    app.router.add_get("/api/cameras/{id}/recording", get_recording, name="cameras.recording")
    app.router.add_put("/api/cameras/{id}/recording", set_recording, name="cameras.set_recording")
    app.router.add_get("/api/cameras/{id}/recordings", list_recordings, name="cameras.recordings")
    health.add_ready_check("mediamtx", _ready)
    if METRICS in app:
        app[METRICS].registry.register(MediamtxCollector(app[BRIDGE]))


async def _ready(bridge: Bridge) -> tuple[bool, str]:
    service = bridge.mediamtx
    if service is None:
        return True, "not enabled"
    return (True, "available") if service.available else (False, "unavailable")


def _bridge(request: web.Request) -> Bridge:
    from .server import BRIDGE

    return request.app[BRIDGE]


def _service(bridge: Bridge) -> MediamtxService:
    if bridge.mediamtx is None:
        raise MediamtxDisabled("MediaMTX is not enabled (mediamtx.enabled)")
    return bridge.mediamtx


def _camera_id(bridge: Bridge, cam_id: str) -> str:
    if cam_id not in bridge.cameras:
        raise NotFound(f"no camera {cam_id}")
    return cam_id


def recording_view(service: MediamtxService, cam_id: str) -> dict[str, Any]:
    """``{camera, recording, mediamtx}``: the switch, and MediaMTX's availability (while it is
    unavailable the switch is saved and applied when it returns)."""
    return {"camera": cam_id, "recording": service.recording(cam_id),
            "mediamtx": "available" if service.available else "unavailable"}


async def mediamtx_health(request: web.Request) -> web.Response:
    """200 with MediaMTX's state when available (or not enabled), else 503."""
    bridge = _bridge(request)
    if bridge.mediamtx is None:
        return web.json_response({"status": "disabled"}, headers=health.NO_STORE)
    status = bridge.mediamtx.status()
    return web.json_response(status, status=200 if bridge.mediamtx.available else 503, headers=health.NO_STORE)


async def get_recording(request: web.Request) -> web.Response:
    """The camera's recording switch (404 unknown camera, 409 without MediaMTX)."""
    bridge = _bridge(request)
    cam_id = _camera_id(bridge, request.match_info["id"])
    return web.json_response(recording_view(_service(bridge), cam_id))


async def set_recording(request: web.Request) -> web.Response:
    """Body ``{"recording": true|false}``; saved, and applied at once when MediaMTX is up."""
    bridge = _bridge(request)
    cam_id = _camera_id(bridge, request.match_info["id"])
    service = _service(bridge)
    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict) or set(body) != {"recording"} or not isinstance(body["recording"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"recording": true} or {"recording": false}')
    await service.set_recording(cam_id, body["recording"])
    return web.json_response(recording_view(service, cam_id))


async def _segments(service: MediamtxService, cam_id: str) -> list[dict[str, str]]:
    try:
        starts = await service.recordings(cam_id)
    except (CircuitOpen, MediamtxError) as err:
        raise MediamtxDown(f"MediaMTX cannot list recordings now: {err}") from None
    return [{"start": start} for start in starts]


async def list_recordings(request: web.Request) -> web.Response:
    """The camera's recorded segments (start times), from MediaMTX."""
    bridge = _bridge(request)
    cam_id = _camera_id(bridge, request.match_info["id"])
    service = _service(bridge)
    return web.json_response({"camera": cam_id, "segments": await _segments(service, cam_id)})


# -- JSON-RPC ----------------------------------------------------------------------------------

def _rpc_call(conn: rpc.Connection, cam_id: str) -> MediamtxService:
    rpc.find_camera(conn, cam_id)
    return _service(conn.bridge)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


@rpc.method("cameras.recording", "Whether a camera records (its MediaMTX recording switch).", rpc.CAMERA_ID)
async def _rpc_recording(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    return recording_view(_rpc_call(conn, params["id"]), params["id"])


@rpc.method("cameras.set_recording", "Switch a camera's recording on or off.", rpc.CAMERA_ID,
            rpc.Param("recording", _flag, "boolean", "true to record"))
async def _rpc_set_recording(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    service = _rpc_call(conn, params["id"])
    await service.set_recording(params["id"], params["recording"])
    return recording_view(service, params["id"])


@rpc.method("cameras.recordings", "A camera's recorded segments (start times) from MediaMTX.", rpc.CAMERA_ID)
async def _rpc_recordings(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    service = _rpc_call(conn, params["id"])
    return {"camera": params["id"], "segments": await _segments(service, params["id"])}


@rpc.method("mediamtx.status", "MediaMTX availability, circuit breaker and last reconciliation.",
            operation="health.mediamtx")
async def _rpc_status(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    service = conn.bridge.mediamtx
    return {"status": "disabled"} if service is None else service.status()


# -- metrics -----------------------------------------------------------------------------------


class MediamtxCollector(Collector):
    """``camera_bridge_mediamtx_*``: ``up``, ``circuit_open``, ``api_requests_total``,
    ``reconciles_total`` and per camera ``path_online``, ``path_readers``,
    ``path_inbound_bytes_total``, ``path_outbound_bytes_total``, ``recording``."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def collect(self) -> Iterator[Metric]:
        """The families above, read from the service at scrape time (none without MediaMTX)."""
        service = self._bridge.mediamtx
        if service is None:
            return
        yield GaugeMetricFamily(PREFIX + "mediamtx_up", "1 while MediaMTX answers its API.",
                                value=1.0 if service.available else 0.0)
        yield GaugeMetricFamily(PREFIX + "mediamtx_circuit_open", "1 while the circuit breaker is open.",
                                value=0.0 if service.breaker.state is BreakerState.CLOSED else 1.0)
        yield CounterMetricFamily(PREFIX + "mediamtx_api_requests", "Requests sent to the MediaMTX API.",
                                  value=service.client.requests)
        yield CounterMetricFamily(PREFIX + "mediamtx_reconciles", "Completed reconciliations.",
                                  value=service.reconciles)
        families = {
            "online": GaugeMetricFamily(PREFIX + "mediamtx_path_online", "1 while the camera's path has a source.", labels=["camera"]),
            "readers": GaugeMetricFamily(PREFIX + "mediamtx_path_readers", "Readers of the camera's path.", labels=["camera"]),
            "inbound_bytes": CounterMetricFamily(PREFIX + "mediamtx_path_inbound_bytes", "Bytes MediaMTX received for the path.", labels=["camera"]),
            "outbound_bytes": CounterMetricFamily(PREFIX + "mediamtx_path_outbound_bytes", "Bytes MediaMTX sent from the path.", labels=["camera"]),
            "recording": GaugeMetricFamily(PREFIX + "mediamtx_recording", "1 while the camera's recording switch is on.", labels=["camera"]),
        }
        for cam_id in service.known_cameras():
            info = service.camera_info(cam_id)
            for key, family in families.items():
                family.add_metric([cam_id], float(info[key]))
        yield from families.values()
