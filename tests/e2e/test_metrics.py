"""Prometheus ``/metrics`` scraped from a live bridge, and JSON logs with request ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import __version__
from bridge.api import cameras as cameras_routes
from bridge.api.server import REQUEST_ID
from bridge.cli import setup_logging

from ..conftest import CAMERA_PASSWORD, CAMERA_USER, make_config, running
from .test_api_cameras import base_url, wait_for_snapshot

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample as ``(name, labels) -> value``."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def scrape(http: aiohttp.ClientSession) -> tuple[str, Samples]:
    resp = await http.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    text = await resp.text()
    return text, parse(text)


async def test_metrics_from_a_live_bridge(broker, rtsp, prefix):
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    config = make_config(broker.port, prefix, {"cam": {"url": secret_url, "snapshot": {"interval": 0}},
                                               "dead": {"url": "rtsp://127.0.0.1:9/none"}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")
        assert (await http.get("/api/cameras")).status == 200
        assert (await http.get("/api/cameras/nope")).status == 404
        assert (await http.get("/secret/path/with/Sup3r-S3cret-pw")).status == 404
        assert (await http.get("/health/alive")).status == 200
        text1, first = await scrape(http)
        await asyncio.sleep(2.5)  # the clip has a keyframe per second
        text2, second = await scrape(http)
        # an OpenMetrics scraper gets OpenMetrics
        resp = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await resp.text()).rstrip().endswith("# EOF")

    for name in ("camera_bridge_frames_total", "camera_bridge_keyframes_total",
                 "camera_bridge_decoded_frames_total", "camera_bridge_decode_seconds_total",
                 "camera_bridge_snapshots_total", "camera_bridge_snapshot_bytes_total"):
        assert value(second, name, camera="cam") > value(first, name, camera="cam") > 0, name
    def delta(name: str) -> float:
        return value(second, name, camera="cam") - value(first, name, camera="cam")

    frames, keys = delta("camera_bridge_frames_total"), delta("camera_bridge_keyframes_total")
    decoded = delta("camera_bridge_decoded_frames_total")
    assert frames > 25 and 1 <= keys <= 5
    assert decoded <= keys + 1, "only keyframes should be decoded for snapshots"
    assert value(second, "camera_bridge_decode_seconds_total", camera="cam") < 5

    assert value(second, "camera_bridge_camera_state", camera="cam", state="streaming") == 1
    assert value(second, "camera_bridge_camera_state", camera="cam", state="backoff") == 0
    assert value(second, "camera_bridge_camera_state", camera="dead", state="streaming") == 0
    assert sum(v for (n, labels), v in second.items()
               if n == "camera_bridge_camera_state" and ("camera", "dead") in labels) == 1
    assert value(second, "camera_bridge_reconnects_total", camera="dead") >= 1
    assert 0 <= value(second, "camera_bridge_last_frame_age_seconds", camera="cam") < 2
    assert ("camera_bridge_last_frame_age_seconds", frozenset({("camera", "dead")})) not in second

    assert value(second, "camera_bridge_mqtt_connected") == 1
    assert value(second, "camera_bridge_mqtt_connects_total") == 1
    assert value(second, "camera_bridge_mqtt_messages_published_total") > \
        value(first, "camera_bridge_mqtt_messages_published_total") > 0
    assert value(second, "camera_bridge_build_info", version=__version__) == 1

    def requests(samples: Samples, route: str, status: str) -> float:
        return value(samples, "camera_bridge_api_requests_total", route=route, method="GET", status=status)

    assert requests(first, "cameras.list", "200") == 1
    assert requests(first, "cameras.get", "404") == 1
    assert requests(first, "unmatched", "404") == 1
    assert requests(first, "health.alive", "200") == 1
    assert requests(second, "metrics", "200") == 1  # the first scrape, counted once answered
    routes = {dict(labels)["route"] for (name, labels) in second if name == "camera_bridge_api_requests_total"}
    assert routes == {"cameras.list", "cameras.get", "unmatched", "health.alive", "metrics"}
    # process collector on the bridge's own registry
    assert value(second, "process_resident_memory_bytes") > 0

    for text in (text1, text2):
        assert CAMERA_PASSWORD not in text and "/secret/path" not in text and "rtsp://" not in text


async def test_two_bridges_have_their_own_metrics(broker, rtsp, prefix):
    one = make_config(broker.port, prefix + "a", {"one": {"url": rtsp.url}})
    two = make_config(broker.port, prefix + "b", {"two": {"url": rtsp.url}})
    async with running(one) as first, running(two) as second, \
            aiohttp.ClientSession(base_url(first)) as http1, aiohttp.ClientSession(base_url(second)) as http2:
        _, samples1 = await scrape(http1)
        _, samples2 = await scrape(http2)
    cams1 = {dict(labels)["camera"] for (name, labels) in samples1 if name == "camera_bridge_frames_total"}
    cams2 = {dict(labels)["camera"] for (name, labels) in samples2 if name == "camera_bridge_frames_total"}
    assert (cams1, cams2) == ({"one"}, {"two"})


# -- JSON logs ---------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The bridge's JSON logging (as ``log_format: json`` sets it up) into a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_json_logs_carry_the_request_id(broker, rtsp, prefix, json_log, monkeypatch):
    async def broken(request):
        raise RuntimeError(f"boom with {CAMERA_PASSWORD}")

    monkeypatch.setattr(cameras_routes, "list_cameras", broken)
    secret_url = rtsp.url_with_credentials(CAMERA_USER, CAMERA_PASSWORD)
    config = make_config(broker.port, prefix, {"cam": {"url": secret_url}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        resp = await http.get("/api/cameras", headers={"X-Request-ID": "req-500"})
        assert resp.status == 500 and resp.headers["X-Request-ID"] == "req-500"
        resp = await http.post("/api/cameras", json={"id": "porch", "url": rtsp.url},
                               headers={"X-Request-ID": "req-add"})
        assert resp.status == 201 and resp.headers["X-Request-ID"] == "req-add"
        generated = (await http.get("/health/alive")).headers["X-Request-ID"]
        assert len(generated) == 32
    logged = lines(json_log)
    assert logged, "nothing logged"
    for entry in logged:
        assert {"time", "level", "logger", "message"} <= set(entry)
        assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    failed = [e for e in logged if e.get("request_id") == "req-500"]
    assert [e["message"] for e in failed] == ["api: GET /api/cameras failed"]
    assert failed[0]["level"] == "ERROR" and failed[0]["logger"] == "bridge.api.server"
    assert "RuntimeError: boom with ***" in failed[0]["exception"]
    added = [e for e in logged if e.get("request_id") == "req-add"]
    assert "camera porch: added" in [e["message"] for e in added]
    started = [e for e in logged if e["message"].startswith("bridge ") and "started" in e["message"]]
    assert started and "request_id" not in started[0], "a line outside any request got a request id"
    assert CAMERA_PASSWORD not in json_log.getvalue()


def test_json_formatter_masks_secrets_and_reads_the_context(json_log):
    from bridge.redact import REDACTOR

    REDACTOR.add(CAMERA_PASSWORD)
    token = REQUEST_ID.set("ctx-1")
    try:
        logging.getLogger("bridge.test").warning("url rtsp://u:%s@host/x", CAMERA_PASSWORD)
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("bridge.test").info("outside %d", 1)
    first, second = lines(json_log)
    assert first["message"] == "url rtsp://u:***@host/x" and first["request_id"] == "ctx-1"
    assert first["level"] == "WARNING" and first["logger"] == "bridge.test"
    assert second == {"time": second["time"], "level": "INFO", "logger": "bridge.test", "message": "outside 1"}
    time.strptime(first["time"][:19], "%Y-%m-%dT%H:%M:%S")
