"""MediaMTX routes: ``/health/mediamtx``, a camera's recording switch and its recordings, the
same as JSON-RPC methods, the ``mediamtx`` readiness check and MediaMTX metrics.

When ``mediamtx.enabled`` is false the recording routes answer 409 ``mediamtx_disabled``; while
MediaMTX does not answer, listing recordings answers 503 ``mediamtx_unavailable`` (a switch is
still saved and applied when MediaMTX returns).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import health, rpc
from .errors import ApiError
from .keys import VIEW, control_of, view_of
from .metrics import METRICS, PREFIX

if TYPE_CHECKING:
    from ..core.view import BridgeView


def setup(app: web.Application) -> None:
    """Add the routes, the readiness check and the metrics collector."""
    app.router.add_get("/health/mediamtx", mediamtx_health, name="health.mediamtx")
    app.router.add_get("/api/cameras/{id}/recording", get_recording, name="cameras.recording")
    app.router.add_put("/api/cameras/{id}/recording", set_recording, name="cameras.set_recording")
    app.router.add_get("/api/cameras/{id}/recordings", list_recordings, name="cameras.recordings")
    health.add_ready_check("mediamtx", _ready)
    if METRICS in app:
        app[METRICS].registry.register(MediamtxCollector(app[VIEW]))


async def _ready(view: BridgeView) -> tuple[bool, str]:
    available = view.mediamtx_available()
    if available is None:
        return True, "not enabled"
    return (True, "available") if available else (False, "unavailable")


def recording_view(view: BridgeView, cam_id: str) -> dict[str, Any]:
    """``{camera, recording, mediamtx}``: the switch, and MediaMTX's availability (while it is
    unavailable the switch is saved and applied when it returns). Raises NotFound,
    MediamtxDisabled."""
    recording = view.recording(cam_id)
    return {
        "camera": cam_id,
        "recording": recording,
        "mediamtx": "available" if view.mediamtx_available() else "unavailable",
    }


async def mediamtx_health(request: web.Request) -> web.Response:
    """200 with MediaMTX's state when available (or not enabled), else 503."""
    view = view_of(request)
    status = view.mediamtx_status()
    ok = view.mediamtx_available() is not False
    return web.json_response(status, status=200 if ok else 503, headers=health.NO_STORE)


async def get_recording(request: web.Request) -> web.Response:
    """The camera's recording switch (404 unknown camera, 409 without MediaMTX)."""
    return web.json_response(recording_view(view_of(request), request.match_info["id"]))


async def set_recording(request: web.Request) -> web.Response:
    """Body ``{"recording": true|false}``; saved, and applied at once when MediaMTX is up."""
    view = view_of(request)
    cam_id = request.match_info["id"]
    view.recording(cam_id)  # 404 unknown camera, 409 without MediaMTX, whatever the body
    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict) or set(body) != {"recording"} or not isinstance(body["recording"], bool):
        raise ApiError(400, "invalid_parameter", 'expected {"recording": true} or {"recording": false}')
    await control_of(request).set_recording(cam_id, body["recording"])
    return web.json_response(recording_view(view, cam_id))


async def list_recordings(request: web.Request) -> web.Response:
    """The camera's recorded segments (start times), from MediaMTX."""
    cam_id = request.match_info["id"]
    starts = await view_of(request).recordings(cam_id)
    return web.json_response({"camera": cam_id, "segments": [{"start": start} for start in starts]})


# -- JSON-RPC ----------------------------------------------------------------------------------


@rpc.method("cameras.recording", "Whether a camera records (its MediaMTX recording switch).", rpc.CAMERA_ID)
async def _rpc_recording(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    return recording_view(conn.view, params["id"])


@rpc.method(
    "cameras.set_recording",
    "Switch a camera's recording on or off.",
    rpc.CAMERA_ID,
    rpc.Param("recording", rpc.flag_param, "boolean", "true to record"),
)
async def _rpc_set_recording(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    await conn.control.set_recording(params["id"], params["recording"])
    return recording_view(conn.view, params["id"])


@rpc.method("cameras.recordings", "A camera's recorded segments (start times) from MediaMTX.", rpc.CAMERA_ID)
async def _rpc_recordings(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    starts = await conn.view.recordings(params["id"])
    return {"camera": params["id"], "segments": [{"start": start} for start in starts]}


@rpc.method(
    "mediamtx.status", "MediaMTX availability, circuit breaker and last reconciliation.", operation="health.mediamtx"
)
async def _rpc_status(conn: rpc.Connection, params: dict[str, Any]) -> dict[str, Any]:
    return conn.view.mediamtx_status()


# -- metrics -----------------------------------------------------------------------------------


class MediamtxCollector(Collector):
    """``camera_bridge_mediamtx_*``: ``up``, ``circuit_open``, ``api_requests_total``,
    ``reconciles_total`` and per camera ``path_online``, ``path_readers``,
    ``path_inbound_bytes_total``, ``path_outbound_bytes_total``, ``recording``."""

    def __init__(self, view: BridgeView) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        """The families above, read through the view at scrape time (none without MediaMTX)."""
        media = self._view.mediamtx_metrics()
        if media is None:
            return
        yield GaugeMetricFamily(
            PREFIX + "mediamtx_up", "1 while MediaMTX answers its API.", value=1.0 if media["up"] else 0.0
        )
        yield GaugeMetricFamily(
            PREFIX + "mediamtx_circuit_open",
            "1 while the circuit breaker is open.",
            value=1.0 if media["circuit_open"] else 0.0,
        )
        yield CounterMetricFamily(
            PREFIX + "mediamtx_api_requests", "Requests sent to the MediaMTX API.", value=media["api_requests"]
        )
        yield CounterMetricFamily(
            PREFIX + "mediamtx_reconciles", "Completed reconciliations.", value=media["reconciles"]
        )
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "online": GaugeMetricFamily(
                PREFIX + "mediamtx_path_online", "1 while the camera's path has a source.", labels=["camera"]
            ),
            "readers": GaugeMetricFamily(
                PREFIX + "mediamtx_path_readers", "Readers of the camera's path.", labels=["camera"]
            ),
            "inbound_bytes": CounterMetricFamily(
                PREFIX + "mediamtx_path_inbound_bytes", "Bytes MediaMTX received for the path.", labels=["camera"]
            ),
            "outbound_bytes": CounterMetricFamily(
                PREFIX + "mediamtx_path_outbound_bytes", "Bytes MediaMTX sent from the path.", labels=["camera"]
            ),
            "recording": GaugeMetricFamily(
                PREFIX + "mediamtx_recording", "1 while the camera's recording switch is on.", labels=["camera"]
            ),
        }
        for cam_id, info in media["cameras"].items():
            for key, family in families.items():
                family.add_metric([cam_id], float(info[key]))
        yield from families.values()
