"""What the end-to-end benchmarks share: the real bridge as a subprocess with a given
configuration (its CPU measured from outside with psutil), an MQTT subscriber of the same broker,
the bridge's ``/metrics`` read at a moment, and quantiles.

Used by ``bench/detect_latency.py`` and ``bench/event_latency.py``; run those from the repo root.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from prometheus_client.parser import text_string_to_metric_families

from tests.peers import REPO, free_port, wait_port

READY_TIMEOUT = 30.0  #: seconds the bridge may take to answer its API


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` (nearest rank), None for no values."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def scrape(port: int, camera: str, prefix: str = "camera_bridge_") -> dict[str, float]:
    """The bridge's metrics of ``camera`` whose names start with ``prefix``, by sample name
    (histogram buckets as ``name{le=X}``)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(prefix) and s.labels.get("camera") == camera:
                out[s.name + (f"{{le={s.labels['le']}}}" if "le" in s.labels else "")] = s.value
    return out


@dataclass
class BridgeRun:
    """A running bridge: its process and API port."""

    proc: subprocess.Popen[bytes]
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the bridge process so far."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def wait_metric(self, camera: str, name: str, timeout: float = READY_TIMEOUT) -> None:
        """Wait until metric ``name`` of ``camera`` is above 0 (e.g. the first detection frame);
        raises RuntimeError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not scrape(self.port, camera).get(name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} of camera {camera} still 0 after {timeout:g} s")
            time.sleep(0.5)


@contextlib.contextmanager
def bridge_process(work: Path, name: str, config: dict[str, Any]) -> Iterator[BridgeRun]:
    """Run ``python -m bridge run`` with ``config`` (``api.port`` set here to a free port) as
    ``<work>/<name>.yaml``, log in ``<work>/<name>.log``; yields once its API answers, stops it
    (terminate, then kill after 10 s) at exit."""
    port = free_port()
    path = work / f"{name}.yaml"
    path.write_text(json.dumps({**config, "api": {**config.get("api", {}), "port": port}}))
    with (work / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "-c", str(path)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_port(port, READY_TIMEOUT)
            yield BridgeRun(proc, port)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def subscriber(port: int, topics: list[str], on_message: Callable[[Any], None], client_id: str) -> Iterator[None]:
    """An MQTT client of the broker on ``port`` subscribed (QoS 1) to ``topics``, calling
    ``on_message(msg)`` in its network thread; yields once subscribed (RuntimeError after 10 s)."""
    import paho.mqtt.client as mqtt

    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.on_message = lambda _c, _u, msg: on_message(msg)
    client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise RuntimeError("MQTT subscriber did not subscribe")
        yield
    finally:
        client.loop_stop()
        client.disconnect()
