"""``GET /metrics``: Prometheus metrics of one bridge (prometheus-client).

Each API application has its own :class:`~prometheus_client.CollectorRegistry` (several bridges
may run in one process, as in the tests), holding the process/platform/GC collectors and a
:class:`BridgeCollector` that reads the bridge's existing counters *at scrape time*: nothing is
added to the capture path beyond the camera's own counters. Labels are camera ids, states, route
names, methods and statuses, never URLs or raw request paths, so no label carries a secret and
their number stays bounded.

Names (all ``camera_bridge_``; ``{camera}`` is the camera id; counters restart at 0 when a
camera is restarted with new options):

* ``frames_total``, ``keyframes_total``, ``decoded_frames_total``, ``decode_seconds_total``,
  ``reconnects_total``, ``snapshots_total``, ``snapshot_bytes_total`` ``{camera}``
* ``camera_state{camera,state}`` (1 for the current state, 0 for the others),
  ``last_frame_age_seconds{camera}`` (cameras that received a frame)
* ``keyframe_ring_bytes{camera}``, ``clip_ring_bytes{camera}`` (compressed packets held in
  memory for event snapshots and clips), ``ring_max_bytes{camera}`` (the most they may hold
  together: ``event_snapshot.max_memory_mb``)
* ``mqtt_connected``, ``mqtt_connects_total``, ``mqtt_messages_published_total``
* ``api_requests_total{route,method,status}`` (route name, ``unmatched`` for unknown paths;
  JSON-RPC calls as ``route="rpc:<method>", method="RPC", status="ok"`` or the error code)
* ``build_info{version}``
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .. import __version__
from ..core.errors import BridgeError
from ..status import CameraState
from .errors import ApiError, answer_for
from .keys import VIEW

if TYPE_CHECKING:
    from ..core.view import BridgeView
    from .server import Handler

PREFIX = "camera_bridge_"
#: methods counted under their name; anything else is ``other`` (bounded label values)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: ``status`` of a request whose handler was cancelled (the client went away, e.g. a stream)
CLIENT_GONE = "499"


class BridgeCollector(Collector):
    """Reads one bridge's cameras, snapshots, MQTT link (through its view) and API request
    counts."""

    def __init__(self, view: BridgeView) -> None:
        self._view = view
        #: (route, method, status) -> requests answered
        self.requests: Counter[tuple[str, str, str]] = Counter()

    def collect(self) -> Iterator[Metric]:
        view = self._view
        now = time.time()
        cameras = [(cam_id, view.camera_status(cam_id)) for cam_id in view.camera_ids()]
        workers = view.snapshot_counters()

        def per_camera(name: str, doc: str, values: list[tuple[str, float]]) -> Metric:
            family = CounterMetricFamily(PREFIX + name, doc, labels=["camera"])
            for cam_id, value in values:
                family.add_metric([cam_id], value)
            return family

        yield per_camera("frames", "Video packets received from the camera.", [(c, s.frames) for c, s in cameras])
        yield per_camera(
            "keyframes", "Keyframes among the received video packets.", [(c, s.keyframes) for c, s in cameras]
        )
        yield per_camera("decoded_frames", "Frames the decoder produced.", [(c, s.decoded) for c, s in cameras])
        yield per_camera("decode_seconds", "Seconds spent decoding video.", [(c, s.decode_seconds) for c, s in cameras])
        yield per_camera(
            "reconnects",
            "Connection attempts that failed or ended (each is retried).",
            [(c, s.reconnects) for c, s in cameras],
        )
        yield per_camera(
            "snapshots", "JPEG snapshots made and published.", [(c, count) for c, (count, _size) in workers.items()]
        )
        yield per_camera(
            "snapshot_bytes",
            "Bytes of the JPEG snapshots made and published.",
            [(c, size) for c, (_count, size) in workers.items()],
        )

        state = GaugeMetricFamily(
            PREFIX + "camera_state",
            "Camera state: 1 for the current one, 0 for the others.",
            labels=["camera", "state"],
        )
        age = GaugeMetricFamily(
            PREFIX + "last_frame_age_seconds", "Seconds since the camera's last video packet.", labels=["camera"]
        )
        for cam_id, status in cameras:
            for value in CameraState:
                state.add_metric([cam_id, str(value)], 1.0 if status.state is value else 0.0)
            if status.last_frame_at is not None:
                age.add_metric([cam_id], max(0.0, now - status.last_frame_at))
        yield state
        yield age
        keyframe_ring = GaugeMetricFamily(
            PREFIX + "keyframe_ring_bytes",
            "Compressed bytes of the camera's recent keyframes (event snapshots).",
            labels=["camera"],
        )
        clip_ring = GaugeMetricFamily(
            PREFIX + "clip_ring_bytes",
            "Compressed bytes of the camera's packet ring and clip being recorded.",
            labels=["camera"],
        )
        ring_max = GaugeMetricFamily(
            PREFIX + "ring_max_bytes",
            "The most the camera's keyframe and clip rings may hold together (event_snapshot.max_memory_mb).",
            labels=["camera"],
        )
        for cam_id, (keyframes, packets, limit) in view.ring_bytes().items():
            keyframe_ring.add_metric([cam_id], keyframes)
            clip_ring.add_metric([cam_id], packets)
            ring_max.add_metric([cam_id], limit)
        yield keyframe_ring
        yield clip_ring
        yield ring_max

        connects, published = view.mqtt_counters()
        yield GaugeMetricFamily(
            PREFIX + "mqtt_connected",
            "1 while connected to the MQTT broker.",
            value=1.0 if view.mqtt_connected() else 0.0,
        )
        yield CounterMetricFamily(PREFIX + "mqtt_connects", "Successful connections to the broker.", value=connects)
        yield CounterMetricFamily(
            PREFIX + "mqtt_messages_published", "MQTT messages handed to the broker.", value=published
        )

        cluster = view.cluster_state()
        if cluster is not None:
            yield GaugeMetricFamily(
                PREFIX + "cluster_leases", "Camera leases this bridge holds.", value=cluster["leases"]
            )
            yield GaugeMetricFamily(
                PREFIX + "cluster_connected",
                "1 while the cluster database answers.",
                value=1.0 if cluster["connected"] else 0.0,
            )
            yield CounterMetricFamily(
                PREFIX + "cluster_renew_failures",
                "Heartbeats/lease renewals that failed.",
                value=cluster["renew_failures"],
            )
            yield CounterMetricFamily(
                PREFIX + "cluster_failovers",
                "Cameras taken over after their owner's lease expired.",
                value=cluster["failovers"],
            )

        requests = CounterMetricFamily(
            PREFIX + "api_requests", "API requests answered.", labels=["route", "method", "status"]
        )
        for (route, method, status_code), count in sorted(self.requests.items()):
            requests.add_metric([route, method, status_code], count)
        yield requests

        yield InfoMetricFamily(PREFIX + "build", "Camera Bridge version.", value={"version": __version__})


class BridgeMetrics:
    """One API application's registry, its bridge collector and the parts' collectors."""

    def __init__(self, view: BridgeView) -> None:
        self.registry = CollectorRegistry()
        self.collector = BridgeCollector(view)
        self.registry.register(self.collector)
        for collector in view.part_collectors():
            self.registry.register(collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)


METRICS: web.AppKey[BridgeMetrics] = web.AppKey("metrics", BridgeMetrics)


def setup(app: web.Application) -> None:
    """Add ``GET /metrics`` and the application's metrics registry."""
    app[METRICS] = BridgeMetrics(app[VIEW])
    app.router.add_get("/metrics", metrics, name="metrics")


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text format (OpenMetrics when the ``Accept`` header asks for it)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def _route(request: web.Request) -> str:
    """The route's name; its pattern when it has none; ``unmatched`` for 404/405 (never the
    raw path: label values stay few and carry no ids or secrets)."""
    route = request.match_info.route
    if route.name:
        return route.name
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each request by route name, method and status (``camera_bridge_api_requests``)."""
    metrics = request.app.get(METRICS)
    if metrics is None:
        return await handler(request)
    status = "500"
    try:
        response = await handler(request)
        status = str(response.status)
        return response
    except ApiError as err:
        status = str(err.status)
        raise
    except BridgeError as err:
        answer = answer_for(err)
        status = str(answer.status) if answer is not None else "500"
        raise
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    except asyncio.CancelledError:
        status = CLIENT_GONE
        raise
    finally:
        method = request.method if request.method in METHODS else "other"
        metrics.collector.requests[(_route(request), method, status)] += 1


def count_rpc(app: web.Application | None, method: str, status: str) -> None:
    """Count one JSON-RPC call as ``api_requests_total{route="rpc:<method>", method="RPC",
    status}``: ``method`` a known method's name (else ``unknown``: label values stay few),
    ``status`` ``ok`` or the JSON-RPC error code."""
    metrics = app.get(METRICS) if app is not None else None
    if metrics is not None:
        metrics.collector.requests[(f"rpc:{method}", "RPC", status)] += 1


__all__ = ["METRICS", "BridgeCollector", "BridgeMetrics", "count_rpc", "metrics_middleware", "setup"]
