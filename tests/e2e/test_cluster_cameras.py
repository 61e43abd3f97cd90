"""The cluster's shared camera registry on a real PostgreSQL server: cameras and switches shared
by every bridge, NOTIFY on every change, and fenced writes refused for a stale lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from bridge.cluster import lease
from bridge.cluster.cameras import FencedOut, SharedCameras

from .. import postgres

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL 15 is not installed")


@pytest.fixture(scope="module")
def pg_server() -> Iterator[postgres.Postgres]:
    with postgres.running() as server:
        yield server


@pytest.fixture
def pg(pg_server: postgres.Postgres) -> postgres.Database:
    return postgres.Database(pg_server, postgres.fresh_database(pg_server))


@pytest.fixture
async def db(pg: postgres.Database) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg.dsn)
    await postgres.cluster_schema(conn)
    yield conn
    await conn.close()


async def test_a_camera_added_on_one_bridge_is_seen_by_another_with_a_notify(pg, db):
    other = await asyncpg.connect(pg.dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await other.add_listener(lease.CHANNEL, lambda _c, _p, _ch, payload: heard.put_nowait(payload))
    try:
        await SharedCameras(db).put("porch", {"url": "rtsp://cam/1"}, "api")
        assert await asyncio.wait_for(heard.get(), 5) == "camera:porch"
        seen = await SharedCameras(other).all()
        assert seen["porch"].config == {"url": "rtsp://cam/1"} and seen["porch"].enabled
        assert await SharedCameras(other).set_switch("porch", "enabled", False)
        assert await asyncio.wait_for(heard.get(), 5) == "camera:porch"
        assert not (await SharedCameras(db).all())["porch"].enabled
        await SharedCameras(db).put("porch", {"url": "rtsp://cam/2"}, "api")  # switches kept
        assert not (await SharedCameras(db).all())["porch"].enabled
        assert await SharedCameras(db).delete("porch")
        assert not await SharedCameras(db).delete("porch")
        assert await SharedCameras(other).all() == {}
    finally:
        await other.close()


async def test_a_write_under_a_stale_lease_is_refused(db):
    cameras = SharedCameras(db)
    await cameras.put("porch", {"url": "rtsp://cam/1"}, "api")
    first = await lease.take(db, "porch", "bridge-a", 0.2)
    assert first is not None
    assert await cameras.set_switch("porch", "detection", False, fence=first)
    await asyncio.sleep(0.3)  # expired: bridge-b takes over with a higher epoch
    second = await lease.take(db, "porch", "bridge-b", 10)
    assert second is not None and second.epoch == first.epoch + 1
    with pytest.raises(FencedOut, match="epoch 1 is no longer held"):
        await cameras.set_switch("porch", "detection", True, fence=first)
    assert not (await cameras.all())["porch"].detection
    assert await cameras.set_switch("porch", "detection", True, fence=second)
    assert not await lease.renew(db, first, 10)
    with pytest.raises(ValueError, match="unknown switch 'recording'"):
        await cameras.set_switch("porch", "recording", True)
