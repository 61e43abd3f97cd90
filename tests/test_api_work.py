"""Heavy work a request triggers runs off the event loop with bounded concurrency: snapshot
downscaling (REST and JSON-RPC) and ``POST /api/detect`` are refused with "busy" beyond their
pool's limit instead of queueing without bound, and the loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.api import cameras, inference, work

from .conftest import make_config, running
from .test_api_cameras import base_url, wait_for_snapshot
from .test_api_rpc import connect


async def test_a_pool_refuses_jobs_beyond_its_limit():
    pool = work.Pool("test-pool", workers=1, limit=2)
    gate = threading.Event()
    names: list[str] = []

    def job(n):
        names.append(threading.current_thread().name)
        gate.wait(5)
        return n * 2

    first = asyncio.create_task(pool.run(job, 1))
    second = asyncio.create_task(pool.run(job, 2))  # waits for the one thread
    await asyncio.sleep(0.05)
    with pytest.raises(work.Busy, match="2 test-pool jobs are already running or waiting"):
        await pool.run(job, 3)
    assert (pool.busy, pool.refused) == (2, 1)
    gate.set()
    assert await asyncio.gather(first, second) == [2, 4]
    assert pool.busy == 0 and all(n.startswith("test-pool") for n in names)
    assert await pool.run(job, 5) == 10


async def test_downscaling_is_bounded_and_the_loop_keeps_serving(broker, rtsp, prefix, monkeypatch):
    monkeypatch.setattr(work, "IMAGES", work.Pool("api-images", workers=1, limit=2))
    from bridge.api import rpc

    monkeypatch.setattr(rpc, "IMAGES", work.IMAGES)
    real = cameras.downscale

    def slow(jpeg, width, quality):  # the real downscale, made slow enough to overlap
        time.sleep(0.4)
        return real(jpeg, width, quality)

    monkeypatch.setattr(cameras, "downscale", slow)
    monkeypatch.setattr(rpc, "downscale", slow)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}},
                         api={"rate_limit": {"rate": 1000, "burst": 1000}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")

        async def get(width):
            async with http.get(f"/api/cameras/cam/snapshot.jpg?width={width}") as resp:
                return resp.status, await resp.read()

        tasks = [asyncio.create_task(get(320 + i * 16)) for i in range(6)]
        await asyncio.sleep(0.1)
        start = time.perf_counter()
        async with http.get("/health/alive") as resp:
            assert resp.status == 200
        assert time.perf_counter() - start < 0.5  # the loop is not the one decoding
        async with connect(bridge) as client:
            error = await client.error("cameras.snapshot", {"id": "cam", "width": 320})
            assert "busy" in error["message"], error
        results = await asyncio.gather(*tasks)
        ok = [body for status, body in results if status == 200]
        refused = [body for status, body in results if status == 503]
        assert len(ok) == 2 and len(refused) == 4, [s for s, _ in results]
        assert all(b'"unavailable"' in body and b"busy" in body for body in refused)
        for body in ok:
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape[1] in {320 + i * 16 for i in range(6)}
        # once the jobs are done the pool takes new ones
        status, _ = await get(320)
        assert status == 200 and work.IMAGES.busy == 0


async def test_viewers_of_the_same_picture_share_one_downscale(broker, rtsp, prefix, monkeypatch):
    """Every viewer of a grid asks for the same snapshot at the same width: one job makes it,
    however many ask at once (more than the pool's limit), and none is refused busy."""
    monkeypatch.setattr(work, "IMAGES", work.Pool("api-images", workers=1, limit=2))
    real, made = cameras.downscale, []

    def slow(jpeg, width, quality):
        made.append(width)
        time.sleep(0.3)
        return real(jpeg, width, quality)

    monkeypatch.setattr(cameras, "downscale", slow)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 60}}},
                         api={"rate_limit": {"rate": 1000, "burst": 1000}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        await wait_for_snapshot(bridge, "cam")

        async def get():
            async with http.get("/api/cameras/cam/snapshot.jpg?width=320") as resp:
                return resp.status, await resp.read()

        results = await asyncio.gather(*(get() for _ in range(6)))
        assert [status for status, _ in results] == [200] * 6
        assert len({body for _, body in results}) == 1 and made == [320]
        assert cv2.imdecode(np.frombuffer(results[0][1], np.uint8), cv2.IMREAD_COLOR).shape[1] == 320
        assert (await get())[0] == 200 and made == [320]  # asked again: made once


def test_picture_size_of_a_header_full_of_fill_bytes_is_bounded():
    data = b"\xff\xd8" + b"\xff" * (1024 * 1024)
    start = time.perf_counter()
    assert inference.picture_size(data) is None
    assert time.perf_counter() - start < 0.1
    _, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    assert inference.picture_size(jpeg.tobytes()) == (64, 48)
