"""Prometheus metrics of the timelapses, read at scrape time from the manager (registered by
bridge/api/metrics.py). Labels are timelapse ids, states, discard reasons and render results.

* ``camera_bridge_timelapse_frames{timelapse}``: kept frames stored now (gauge: retention deletes)
* ``camera_bridge_timelapse_bytes{timelapse}``: bytes of those frames
* ``camera_bridge_timelapse_discarded_frames_total{timelapse,reason}``
* ``camera_bridge_timelapse_state{timelapse,state}``: 1 for the current state
* ``camera_bridge_timelapse_renders_total{timelapse,result}``: done, failed, cancelled
* ``camera_bridge_timelapse_render_progress_percent{timelapse}``: of the running render
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .state import State

PREFIX = "camera_bridge_timelapse_"


class TimelapseCollector(Collector):
    """Reads the timelapse manager returned by ``manager()`` (None: no metrics yet)."""

    def __init__(self, manager: Callable[[], Any]) -> None:
        self._manager = manager

    def collect(self) -> Iterator[Metric]:
        manager = self._manager()
        runtimes = list(manager.timelapses.values()) if manager is not None else []
        frames = GaugeMetricFamily(PREFIX + "frames", "Kept frames stored.", labels=["timelapse"])
        size = GaugeMetricFamily(PREFIX + "bytes", "Bytes of the stored frames.", labels=["timelapse"])
        discarded = CounterMetricFamily(
            PREFIX + "discarded_frames", "Frames discarded by the quality checks.", labels=["timelapse", "reason"]
        )
        state = GaugeMetricFamily(
            PREFIX + "state", "Timelapse state: 1 for the current one.", labels=["timelapse", "state"]
        )
        renders = CounterMetricFamily(
            PREFIX + "renders", "Renders finished, by result.", labels=["timelapse", "result"]
        )
        progress = GaugeMetricFamily(
            PREFIX + "render_progress_percent", "Progress of the running render.", labels=["timelapse"]
        )
        for rt in runtimes:
            frames.add_metric([rt.id], rt.frames)
            size.add_metric([rt.id], rt.bytes)
            for reason, count in sorted(rt.discarded.items()):
                discarded.add_metric([rt.id, reason], count)
            for value in State:
                state.add_metric([rt.id, str(value)], 1.0 if rt.state is value else 0.0)
            for result, count in sorted(rt.renders.items()):
                renders.add_metric([rt.id, result], count)
            if rt.rendering and rt.render is not None:
                progress.add_metric([rt.id], rt.render["percent"])
        yield from (frames, size, discarded, state, renders, progress)
