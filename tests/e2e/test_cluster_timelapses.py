"""Cluster mode: a timelapse goes on when its camera moves to another bridge. Two real bridge
processes (``python -m bridge run``) share one camera of a real RTSP server through a real
PostgreSQL and a real Mosquitto; both define the same timelapse on it. The frame index, the
timelapse's state and its videos are read from PostgreSQL (the cluster's tables), the render
is asked for over MQTT as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from .. import postgres
from ..conftest import recording
from ..peers import Mosquitto, RtspServer, make_clip
from .test_cluster_bridges import TTL, BridgeProcess

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL 15 is not installed")

CAMERA, TIMELAPSE = "cam00", "yard"


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, Path, postgres.Postgres]]:
    work = tmp_path_factory.mktemp("cluster-tl")
    broker = Mosquitto(work)
    broker.start()
    clip = make_clip(work / "small.mp4", width=320, height=240, fps=10, gop=10, seconds=6)
    with postgres.running() as pg:
        yield broker, clip, pg
    broker.stop()


@pytest.fixture
def rtsp(peers) -> Iterator[RtspServer]:
    server = RtspServer(peers[1])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dsn(peers, prefix: str) -> str:
    return postgres.fresh_database(peers[2], prefix)


async def query(dsn: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def frames(dsn: str) -> list[Any]:
    """The timelapse's frame index in PostgreSQL, oldest first (none before a bridge made the
    tables)."""
    import asyncpg

    with contextlib.suppress(asyncpg.UndefinedTableError):
        return await query(dsn, "SELECT seq, owner, path, captured_at FROM camera_bridge_timelapse_frames"
                                " WHERE timelapse_id = $1 ORDER BY captured_at, seq", TIMELAPSE)
    return []


async def wait_for(check: Any, timeout: float, what: str, bridges: list[BridgeProcess]) -> Any:
    """Poll the coroutine function ``check`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(b.tail(40) for b in bridges))
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("shared_storage", [True, False], ids=["shared-storage", "own-disks"])
async def test_a_timelapse_goes_on_on_the_next_owner_and_renders_the_frames_it_can_read(
        peers, rtsp, dsn, tmp_path, prefix, shared_storage):
    broker = peers[0]
    storage = tmp_path / "timelapses"  # every bridge's mount of one directory
    bridges = []
    for name in ("bridge-a", "bridge-b"):
        extra = {
            "timelapse": {"interval": 1, "min_free_mb": 0, "min_score": 0, "fps": 10,
                          **({"storage": str(storage)} if shared_storage else {})},
            "timelapses": {TIMELAPSE: {"camera": CAMERA}},
        }
        bridges.append(BridgeProcess(tmp_path, name, broker.port, prefix, dsn, rtsp.url, [CAMERA], extra=extra))
    try:
        async with recording(broker.port, prefix) as rec:
            # the camera's owner captures; every frame in the shared index, numbered 1, 2, ...
            first = await wait_for(lambda: _at_least(dsn, 3), 60, "three frames of the first owner", bridges)
            owners = {f["owner"] for f in first}
            assert len(owners) == 1, owners
            leaving = next(b for b in bridges if b.name in owners)
            staying = next(b for b in bridges if b is not leaving)
            await rec.wait(lambda: any(m.payload and b'"running"' in m.payload
                                       for m in rec.on(f"{prefix}/timelapse/{TIMELAPSE}/state")), 20,
                           "the timelapse's state running on MQTT")

            # the owner stops cleanly: the other bridge takes the camera and goes on with the
            # same timelapse (its state kept, its frames numbered on)
            leaving.signal(signal.SIGTERM)
            assert leaving.proc.wait(20) == 0
            left = await frames(dsn)
            assert {f["owner"] for f in left} == {leaving.name}

            async def continued() -> list[Any]:
                found = await frames(dsn)
                return found if sum(f["owner"] == staying.name for f in found) >= 3 else []

            both = await wait_for(continued, TTL + 30, f"three frames of {staying.name}", [staying, leaving])
            assert [f["seq"] for f in both] == list(range(1, len(both) + 1))  # no number twice, none skipped
            assert {f["owner"] for f in both} == {leaving.name, staying.name}
            assert max(f["seq"] for f in both if f["owner"] == leaving.name) < min(
                f["seq"] for f in both if f["owner"] == staying.name)
            state = await query(dsn, "SELECT state, next_seq FROM camera_bridge_timelapses WHERE id = $1", TIMELAPSE)
            assert state[0]["state"] == "running" and state[0]["next_seq"] >= len(both)

            # a render asked for on MQTT: the new owner renders what it can read
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(f"{prefix}/timelapse/{TIMELAPSE}/set", b"render", qos=1)

            async def video() -> list[Any]:
                return await query(dsn, "SELECT frames, missing, owner, first_at, last_at"
                                        " FROM camera_bridge_timelapse_videos WHERE timelapse_id = $1", TIMELAPSE)

            videos = await wait_for(video, 60, "the rendered video's row", [staying])
            assert len(videos) == 1
            made = videos[0]
            assert made["owner"] == staying.name
            index = [f for f in await frames(dsn) if f["captured_at"] <= made["last_at"]]
            theirs = sum(f["owner"] == leaving.name for f in index)
            if shared_storage:  # every frame's file is readable there: all of them rendered
                assert made["missing"] == 0 and made["frames"] == len(index)
                assert made["first_at"] == index[0]["captured_at"]  # from the first owner
                assert (storage / TIMELAPSE).is_dir()
            else:  # the first owner's files are on its disk only: left out, and said so
                assert made["missing"] == theirs and made["frames"] == len(index) - theirs
                assert "rendering without" in staying.log.read_text()
            rendered = await rec.wait(lambda: [m for m in rec.on(f"{prefix}/timelapse/{TIMELAPSE}/render")
                                               if m.payload and b'"done"' in m.payload], 20, "render done on MQTT")
            assert (b'"missing": %d' % (0 if shared_storage else theirs)) in rendered[-1].payload
    finally:
        for bridge in bridges:
            bridge.stop()


async def _at_least(dsn: str, count: int) -> list[Any]:
    found = await frames(dsn)
    return found if len(found) >= count else []



async def test_a_paused_timelapse_stays_paused_on_the_next_owner_and_resumes_there(peers, rtsp, dsn, tmp_path, prefix):
    broker = peers[0]
    extra = {"timelapse": {"interval": 1, "min_free_mb": 0, "min_score": 0},
             "timelapses": {TIMELAPSE: {"camera": CAMERA}}}
    bridges = [BridgeProcess(tmp_path, name, broker.port, prefix, dsn, rtsp.url, [CAMERA], extra=extra)
               for name in ("bridge-a", "bridge-b")]
    state_topic = f"{prefix}/timelapse/{TIMELAPSE}/state"

    async def command(payload: bytes) -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{prefix}/timelapse/{TIMELAPSE}/set", payload, qos=1)

    async def stored_state() -> str | None:
        import asyncpg

        with contextlib.suppress(asyncpg.UndefinedTableError):
            rows = await query(dsn, "SELECT state FROM camera_bridge_timelapses WHERE id = $1", TIMELAPSE)
            return rows[0]["state"] if rows else None
        return None

    try:
        async with recording(broker.port, prefix) as rec:
            first = await wait_for(lambda: _at_least(dsn, 2), 60, "two frames of the first owner", bridges)
            leaving = next(b for b in bridges if b.name == first[0]["owner"])
            staying = next(b for b in bridges if b is not leaving)
            await command(b"pause")  # on MQTT: the camera's owner acts, the row changes for both
            await wait_for(lambda: _is(stored_state, "paused"), 20, "the state paused in PostgreSQL", bridges)
            leaving.signal(signal.SIGTERM)
            assert leaving.proc.wait(20) == 0
            taken = time.monotonic()  # the recorder's clock
            paused_frames = len(await frames(dsn))

            # the next owner runs the camera but keeps the timelapse paused: it says so on MQTT
            # and captures nothing while its camera delivers frames for a while
            def camera_frames() -> int:
                for m in reversed(rec.on(f"{prefix}/{CAMERA}/status", taken)):
                    if m.payload and b'"owner": "%s"' % staying.name.encode() in m.payload:
                        import json

                        return int(json.loads(m.payload)["frames"])
                return -1

            start = await rec.wait(lambda: camera_frames() >= 0 and camera_frames(), 30,
                                   f"{CAMERA} streaming on {staying.name}")
            await rec.wait(lambda: any(m.payload and b'"paused"' in m.payload for m in rec.on(state_topic, taken)),
                           20, f"the timelapse state paused from {staying.name}")
            await rec.wait(lambda: camera_frames() >= start + 40, 30, "four seconds of frames of the camera")
            assert len(await frames(dsn)) == paused_frames  # nothing captured while paused
            assert await stored_state() == "paused"

            # resumed there: frames numbered on from the first owner's
            await command(b"resume")

            async def resumed() -> list[Any]:
                found = await frames(dsn)
                return found if sum(f["owner"] == staying.name for f in found) >= 2 else []

            both = await wait_for(resumed, 30, f"frames of {staying.name} after resume", [staying])
            assert [f["seq"] for f in both] == list(range(1, len(both) + 1))
            assert await stored_state() == "running"
    finally:
        for bridge in bridges:
            bridge.stop()


async def _is(read: Any, value: str) -> bool:
    return await read() == value
