"""Cluster mode end to end: three real bridge processes (``python -m bridge run``) sharing twelve
cameras of a real RTSP server through a real PostgreSQL, publishing to a real Mosquitto.

Who published what is read from the broker's own log (``Received PUBLISH from <client id>``;
a clustered bridge's default client id ends with its member name), so "no two bridges publish
snapshots of one camera in the same second" is checked on what the broker received, not on what a bridge says."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .. import postgres
from ..conftest import recording
from ..peers import REPO, Mosquitto, RtspServer, env_without, make_clip

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL 15 is not installed")

TTL, RENEW = 5.0, 1.0
NAMES = ("bridge-a", "bridge-b", "bridge-c")
CAMERAS = [f"cam{i:02d}" for i in range(12)]
_PUBLISH = re.compile(r"^(\d+): Received PUBLISH from (\S+) \(d\d, q\d, r\d, m\d+, '([^']*)'")


class LoggingBroker(Mosquitto):
    """Mosquitto logging every PUBLISH it receives, with the publisher's client id and the time
    (whole seconds since the epoch)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.log = workdir / f"mosquitto-{self.port}.log"
        self.conf.write_text(self.conf.read_text() + f"log_dest file {self.log}\nlog_type all\n"
                             "log_timestamp true\nlog_timestamp_format %s\n")

    def publishes(self) -> list[tuple[int, str, str]]:
        """``(second, client id, topic)`` of every PUBLISH received so far."""
        found = []
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        for line in text.splitlines():
            match = _PUBLISH.match(line)
            if match:
                found.append((int(match[1]), match[2], match[3]))
        return found


class BridgeProcess:
    """One clustered bridge: member ``name``, YAML cameras ``cameras`` (they join the shared
    registry, then run wherever their lease is held); ``extra``: more top-level sections."""

    def __init__(self, root: Path, name: str, port: int, prefix: str, dsn: str, url: str,
                 cameras: list[str], extra: dict | None = None) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir()
        self.config = self.dir / "config.yaml"
        self.config.write_text(yaml.safe_dump({
            "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": prefix,
                     "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status",
                     "status_interval": 2},
            "cluster": {"dsn": dsn, "name": name, "lease_ttl": TTL, "renew_interval": RENEW},
            "cameras": {cam: {"url": url, "snapshot": {"interval": 1}} for cam in cameras},
            "api": {"enabled": False}, "data_dir": str(self.dir / "data"), **(extra or {}),
        }))
        self.log = self.dir / "bridge.log"
        environ = env_without("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                              *(k for k in os.environ if k.startswith("CAMERA_BRIDGE_")))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--config", str(self.config)],
                                         cwd=REPO, env=environ, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name}:\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        postgres.stop_process(self.proc)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoggingBroker, Path, postgres.Postgres]]:
    """The module's broker, RTSP clip and PostgreSQL server."""
    work = tmp_path_factory.mktemp("cluster")
    broker = LoggingBroker(work)
    broker.start()
    small = make_clip(work / "small.mp4", width=320, height=240, fps=10, gop=10, seconds=6)
    with postgres.running() as pg:
        yield broker, small, pg
    broker.stop()


@pytest.fixture
def cluster_rtsp(peers) -> Iterator[RtspServer]:
    """An RTSP server of the test's own (a bridge killed with its connections open must not
    leave the next test a server in trouble)."""
    server = RtspServer(peers[1])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dsn(peers, prefix: str) -> str:
    return postgres.fresh_database(peers[2], prefix)


@pytest.fixture
def cluster(peers, cluster_rtsp: RtspServer, dsn: str, tmp_path: Path, prefix: str) -> Iterator[list[BridgeProcess]]:
    broker, rtsp = peers[0], cluster_rtsp
    bridges = [BridgeProcess(tmp_path, name, broker.port, prefix, dsn, rtsp.url, CAMERAS[i * 4:i * 4 + 4])
               for i, name in enumerate(NAMES)]
    yield bridges
    for bridge in bridges:
        bridge.stop()


class Statuses:
    """The cameras' status messages (owner, epoch, state, frames) as a subscriber sees them."""

    def __init__(self, rec, prefix: str) -> None:
        self.rec, self.prefix = rec, prefix

    def all(self, since: float = 0.0) -> list[tuple[float, str, dict]]:
        out = []
        for m in list(self.rec.messages):
            parts = m.topic.split("/")
            if m.at >= since and len(parts) == 3 + self.prefix.count("/") and parts[-1] == "status" and m.payload:
                out.append((m.at, parts[-2], json.loads(m.payload)))
        return out

    def latest(self, since: float = 0.0) -> dict[str, dict]:
        return {cam: payload for _, cam, payload in self.all(since)}

    def streaming_owners(self, since: float = 0.0) -> dict[str, str]:
        """``{camera: owner}`` of the cameras whose latest status since ``since`` is streaming."""
        return {cam: p.get("owner") for cam, p in self.latest(since).items() if p.get("state") == "streaming"}


def split_ok(owners: dict[str, str], names: tuple[str, ...]) -> bool:
    """Every camera owned by one of ``names``, each holding its share +-1."""
    counts = collections.Counter(owners.values())
    share = len(CAMERAS) // len(names)
    return sorted(owners) == CAMERAS and all(share - 1 <= counts[n] <= share + 1 for n in names)


def member_of(client: str, prefix: str) -> str:
    """The member name in a clustered bridge's default client id ``camera-bridge-{base}-{member}``."""
    return client.removeprefix(f"camera-bridge-{prefix}-")


def snapshot_publishers(broker: LoggingBroker, prefix: str) -> dict[tuple[str, int], set[str]]:
    """``{(camera, second): {client ids}}`` of the snapshots the broker received."""
    found: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    for second, client, topic in broker.publishes():
        if topic.startswith(f"{prefix}/") and topic.endswith("/snapshot"):
            found[(topic[len(prefix) + 1:-len("/snapshot")], second)].add(member_of(client, prefix))
    return found


async def settled(rec, status: Statuses, cluster: list[BridgeProcess]) -> dict[str, dict]:
    """Wait for the split to hold its share +-1 and then stay put (no camera changing owner
    for 3 s: every member settled); the latest status of each camera."""
    try:
        await rec.wait(lambda: split_ok(status.streaming_owners(), NAMES), 75, "twelve cameras split 4/4/4")
        while True:
            owners = status.streaming_owners()
            await asyncio.sleep(3)
            if status.streaming_owners() == owners and split_ok(owners, NAMES):
                return status.latest()
    except AssertionError:
        raise AssertionError("\n".join([str(status.latest())] + [b.tail() for b in cluster])) from None


async def lease_events(dsn: str, member: str, event: str) -> set[str]:
    """The cameras for which the lease log has ``event`` (``taken``, ``released``) by ``member``."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT DISTINCT camera FROM camera_bridge_lease_log WHERE owner = $1 AND event = $2",
                                member, event)
    finally:
        await conn.close()
    return {r["camera"] for r in rows}


async def test_split_database_restart_failover_after_sigkill_and_clean_stop(peers, cluster, dsn, prefix):
    broker, _, pg = peers
    async with recording(broker.port, prefix) as rec:
        status = Statuses(rec, prefix)
        before = await asyncio.wait_for(settled(rec, status, cluster), 120)

        # PostgreSQL restarted: no camera restarts (same owner, same epoch, its frame counter goes on)
        pg.stop("fast")
        pg.start()
        restarted_at = time.monotonic()
        await rec.wait(lambda: set(status.latest(restarted_at + 2 * RENEW + 2)) == set(CAMERAS), 30,
                       "a status of every camera after the database is back")
        after = status.latest(restarted_at + 2 * RENEW + 2)
        for cam in CAMERAS:
            assert (after[cam]["owner"], after[cam]["epoch"]) == (before[cam]["owner"], before[cam]["epoch"]), cam
            assert after[cam]["state"] == "streaming" and after[cam]["frames"] > before[cam]["frames"], cam

        # one bridge killed: its cameras stream on the others within TTL + 10 s
        victim = cluster[0]
        lost = {cam for cam, p in after.items() if p["owner"] == victim.name}
        victim.signal(signal.SIGKILL)
        victim.proc.wait(5)
        killed_at = time.monotonic()
        await rec.wait(lambda: lost <= {c for c, o in status.streaming_owners(killed_at).items()
                                        if o in NAMES[1:]}, TTL + 10, "the killed bridge's cameras streaming elsewhere")
        took = time.monotonic() - killed_at
        assert took <= TTL + 10
        assert split_ok({**status.streaming_owners(), **status.streaming_owners(killed_at)}, NAMES[1:])

        # one bridge stopped cleanly (SIGTERM): it releases its leases, the last one takes them
        # over without waiting for the TTL
        leaving, staying = cluster[1], cluster[2]
        handed = {c for c, o in status.streaming_owners(killed_at).items() if o == leaving.name}
        assert handed
        leaving.signal(signal.SIGTERM)
        termed_at = time.monotonic()
        await rec.wait(lambda: handed <= {c for c, o in status.streaming_owners(termed_at).items()
                                          if o == staying.name}, TTL + 10, "the stopped bridge's cameras handed over")
        assert leaving.proc.wait(10) == 0
        released = await lease_events(dsn, leaving.name, "released")
        assert handed <= released, f"not released by {leaving.name}: {handed - released}"

    both = {key: clients for key, clients in snapshot_publishers(broker, prefix).items() if len(clients) > 1}
    assert both == {}, f"snapshots of one camera from two bridges in the same second: {sorted(both.items())[:5]}"
    assert any(member_of(client, prefix) == NAMES[1] for _, client, _ in broker.publishes())  # the log is read


async def retakes(dsn: str, member: str, cameras: set[str]) -> dict[str, float]:
    """``{camera: wall-clock seconds}`` of the latest lease ``member`` took of each camera (from
    the lease log)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT camera, max(EXTRACT(EPOCH FROM at)) AS at FROM camera_bridge_lease_log"
                                " WHERE owner = $1 AND event = 'taken' AND camera = ANY($2) GROUP BY camera",
                                member, sorted(cameras))
    finally:
        await conn.close()
    return {r["camera"]: float(r["at"]) for r in rows}


async def test_a_paused_bridge_publishes_nothing_for_the_cameras_it_lost(peers, cluster, dsn, prefix):
    broker, _, _ = peers
    async with recording(broker.port, prefix) as rec:
        status = Statuses(rec, prefix)
        await asyncio.wait_for(settled(rec, status, cluster), 120)
        paused = cluster[2]
        epochs = {cam: p["epoch"] for cam, p in status.latest().items() if p.get("owner") == paused.name}
        lost = set(epochs)
        assert lost
        paused.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        await rec.wait(lambda: lost <= {c for c, o in status.streaming_owners(stopped_at).items()
                                        if o in NAMES[:2]}, TTL + 10, "the paused bridge's cameras taken over")
        resumed_wall, resumed = time.time(), time.monotonic()
        paused.signal(signal.SIGCONT)
        await asyncio.sleep(3 * RENEW + 1)
        stale = [(cam, p) for at, cam, p in status.all(resumed)
                 if p.get("owner") == paused.name and cam in lost and p.get("epoch", 0) <= epochs[cam]]
        assert stale == [], f"{paused.name} published statuses under leases it lost: {stale[:3]}"
    # from the broker: nothing from it for a lost camera after it resumed, except under a lease it
    # took again later (then in a later second than the retake's)
    again = await retakes(dsn, paused.name, lost)
    late = [(second, topic) for second, client, topic in broker.publishes()
            if member_of(client, prefix) == paused.name and second >= int(resumed_wall)
            for cam in lost if topic.startswith(f"{prefix}/{cam}/")
            and (cam not in again or again[cam] < resumed_wall or second < int(again[cam]))]
    assert late == [], f"{paused.name} published for cameras it lost after it resumed: {late[:5]}"
    assert paused.proc.poll() is None  # it runs on, a member again


async def test_ready_fails_while_a_clustered_bridge_has_no_database(peers, cluster_rtsp, dsn, prefix):
    import aiohttp

    from ..conftest import make_config, running
    from .test_api_cameras import base_url
    from .test_api_health import wait_ready

    broker, _, pg = peers
    config = make_config(broker.port, prefix, {"solo": {"url": cluster_rtsp.url}}, sections={
        "cluster": {"dsn": dsn, "name": "bridge-h", "lease_ttl": TTL, "renew_interval": RENEW}})
    async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
        body = await wait_ready(http, 200, 20)
        assert body["checks"]["cluster"] == {"ok": True, "message": "cluster database reachable"}
        deadline = time.monotonic() + 20
        while "camera_bridge_cluster_leases 1.0" not in (text := await (await http.get("/metrics")).text()):
            assert time.monotonic() < deadline, text[-2000:]
            await asyncio.sleep(0.3)
        pg.stop("fast")
        try:
            body = await wait_ready(http, 503, 3 * RENEW + 5)
            assert body["checks"]["cluster"] == {"ok": False, "message": "cluster database not reachable"}
            text = await (await http.get("/metrics")).text()
            assert "camera_bridge_cluster_connected 0.0" in text
            assert re.search(r"^camera_bridge_cluster_renew_failures_total [1-9]", text, re.MULTILINE), text[-2000:]
        finally:
            pg.start()
        await wait_ready(http, 200, 3 * RENEW + 10)


async def test_api_cameras_and_switches_live_in_the_shared_registry(peers, cluster_rtsp, dsn, prefix):
    import aiohttp
    import asyncpg

    from ..conftest import make_config, running
    from .test_api_cameras import base_url

    broker = peers[0]
    config = make_config(broker.port, prefix, {"yard": {"url": cluster_rtsp.url}}, sections={
        "cluster": {"dsn": dsn, "name": "bridge-r", "lease_ttl": TTL, "renew_interval": RENEW}})
    db = await asyncpg.connect(dsn)
    try:
        async with running(config) as bridge, aiohttp.ClientSession(base_url(bridge)) as http:
            rows = {r["id"]: r for r in await db.fetch("SELECT * FROM camera_bridge_cameras")}
            assert rows["yard"]["origin"] == "yaml:bridge-r"
            resp = await http.post("/api/cameras", json={"id": "porch", "url": cluster_rtsp.url})
            assert resp.status == 201, await resp.text()
            row = await db.fetchrow("SELECT * FROM camera_bridge_cameras WHERE id = 'porch'")
            assert row["origin"] == "api" and json.loads(row["config"])["url"] == cluster_rtsp.url
            assert await asyncio.to_thread(bridge.store.cameras) == {}  # not in the SQLite store
            assert "porch" in bridge.cameras  # the only member: it holds the new camera's lease

            resp = await http.put("/api/cameras/porch/enabled", json={"enabled": False})
            assert resp.status == 200, await resp.text()
            assert await db.fetchval("SELECT enabled FROM camera_bridge_cameras WHERE id = 'porch'") is False
            # a switch written by another bridge (or by hand) reaches the owner through NOTIFY
            await db.execute("UPDATE camera_bridge_cameras SET enabled = TRUE WHERE id = 'porch';"
                             "SELECT pg_notify('camera_bridge_cluster', 'camera:porch')")
            deadline = time.monotonic() + 10
            while "porch" in bridge.disabled or bridge.cameras["porch"].status.state != "streaming":
                assert time.monotonic() < deadline, bridge.cameras["porch"].status
                await asyncio.sleep(0.2)

            resp = await http.delete("/api/cameras/porch")
            assert resp.status in (200, 204), await resp.text()
            assert await db.fetchval("SELECT count(*) FROM camera_bridge_cameras WHERE id = 'porch'") == 0
            deadline = time.monotonic() + 10
            while "porch" in bridge.cameras:
                assert time.monotonic() < deadline, "the removed camera still runs"
                await asyncio.sleep(0.2)
    finally:
        await db.close()


async def test_a_reload_changes_the_shared_rows_and_the_owner_restarts_only_that_camera(
        peers, cluster_rtsp, dsn, prefix, tmp_path):
    import asyncpg

    from bridge.app import Bridge
    from bridge.config import parse

    broker = peers[0]
    data = {
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix, "discovery_prefix": f"{prefix}_ha"},
        "cameras": {"yard": {"url": cluster_rtsp.url}, "gate": {"url": cluster_rtsp.url},
                    "post": {"url": cluster_rtsp.url}},
        "api": {"enabled": False}, "data_dir": str(tmp_path / "data"),
        "cluster": {"dsn": dsn, "name": "bridge-y", "lease_ttl": TTL, "renew_interval": RENEW},
    }
    path = tmp_path / "config.yaml"
    path.write_text(text := yaml.safe_dump(data))
    db = await asyncpg.connect(dsn)
    try:
        async with Bridge(parse(text), config_path=path, config_text=text) as bridge:
            deadline = time.monotonic() + 10
            while {"yard", "gate", "post"} - set(bridge.cameras):
                assert time.monotonic() < deadline, set(bridge.cameras)
                await asyncio.sleep(0.2)
            yard, post = bridge.cameras["yard"], bridge.cameras["post"]
            data["cameras"]["yard"]["snapshot"] = {"interval": 7}
            del data["cameras"]["gate"]
            data["cameras"]["shed"] = {"url": cluster_rtsp.url}
            assert bridge.reloader is not None
            result = await bridge.reloader.reload("test", yaml.safe_dump(data))
            assert result.applied, result.errors
            rows = {r["id"]: json.loads(r["config"]) for r in await db.fetch("SELECT * FROM camera_bridge_cameras")}
            assert set(rows) == {"yard", "post", "shed"} and rows["yard"]["snapshot"]["interval"] == 7
            deadline = time.monotonic() + 10
            while bridge.cameras.get("yard") is yard or "gate" in bridge.cameras or "shed" not in bridge.cameras:
                assert time.monotonic() < deadline, set(bridge.cameras)
                await asyncio.sleep(0.2)
            assert bridge.cameras["yard"].config.snapshot.interval == 7
            assert bridge.cameras["post"] is post  # unchanged: not restarted
    finally:
        await db.close()


async def test_a_camera_added_on_a_bridge_that_does_not_win_it_streams_on_its_owner_with_its_urls(
        peers, cluster_rtsp, dsn, prefix, tmp_path):
    """Two bridges, each driving its own (contract-checked fake) MediaMTX. ``POST /api/cameras``
    on a bridge that does not win the camera answers 202 naming the bridge it goes to; GET there
    shows it with its owner, the owner's state and the owner's stream URLs, and so does the
    camera list (within a key's camera limit); the path is on the owner's MediaMTX only, and the
    stream topic on MQTT names the owner's URLs too. A timelapse made on bridge-a for that camera
    answers 202 and is captured by bridge-b; its frames and its video, rendered on bridge-b
    without shared storage, are listed by bridge-a, which answers 404 naming bridge-b for their
    files."""
    import aiohttp

    from bridge.api.auth import generate_key, hash_key
    from bridge.app import Bridge
    from bridge.config import parse

    from ..fake_mediamtx import FakeMediamtx

    broker = peers[0]
    key = generate_key()  # a key limited to the cameras the test adds (not "yard")
    limited = {"name": "added-only", "hash": hash_key(key), "role": "viewer", "cameras": [f"cam{i}" for i in range(8)]}

    def config(name: str, media: FakeMediamtx, cameras: dict) -> str:
        return yaml.safe_dump({
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                     "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status"},
            "cameras": cameras, "api": {"port": 0, "keys": [limited]}, "data_dir": str(tmp_path / name),
            "cluster": {"dsn": dsn, "name": name, "lease_ttl": TTL, "renew_interval": RENEW},
            "mediamtx": {"enabled": True, "api_url": media.url, "health_interval": 0.2, "request_timeout": 1,
                         "rtsp_url": f"rtsp://{name}.lan:8554"},
            "timelapse": {"interval": 1, "min_free_mb": 0, "min_score": 0, "fps": 10}})

    async def until(check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not (value := await check()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.2)
        return value

    yard = {"yard": {"url": cluster_rtsp.url}}
    async with FakeMediamtx() as media_a, FakeMediamtx() as media_b, recording(broker.port, prefix) as rec, \
            Bridge(parse(config("bridge-a", media_a, yard))) as a, contextlib.AsyncExitStack() as stack, \
            aiohttp.ClientSession(f"http://127.0.0.1:{a.api.port}") as http:
        b = await stack.enter_async_context(Bridge(parse(config("bridge-b", media_b, {}))))
        assert a.node is not None and b.node is not None
        await until(lambda: _both(a), 20, "both bridges settled members")
        remote = None
        for i in range(8):  # the assignment is a hash: add cameras until one goes to bridge-b
            resp = await http.post("/api/cameras", json={"id": f"cam{i}", "url": cluster_rtsp.url})
            body = await resp.json()
            assert resp.status in (201, 202), body
            if resp.status == 201:
                assert body["owner"] == "bridge-a" and body["state"] and "remote" not in body
                continue
            assert body["remote"] is True and body["assigned"] == "bridge-b", body
            assert body["owner"] in (None, "bridge-b") and resp.headers["Location"] == f"/api/cameras/cam{i}"
            remote = f"cam{i}"
            break
        assert remote is not None, "no camera went to bridge-b"

        async def shown():
            async with http.get(f"/api/cameras/{remote}") as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
            return body if body["owner"] == "bridge-b" and body["state"] == "streaming" else None

        body = await until(shown, 30, f"{remote} streaming on bridge-b, as bridge-a shows it")
        assert body["stream_urls"]["rtsp"] == f"rtsp://bridge-b.lan:8554/{remote}"
        assert body["url"] == cluster_rtsp.url and isinstance(body["epoch"], int)
        assert remote in b.cameras and remote not in a.cameras
        assert remote in media_b.paths and remote not in media_a.paths
        assert "yard" in media_a.paths and "yard" not in media_b.paths
        async with http.get("/api/cameras/yard") as resp:  # a camera it runs itself
            own = await resp.json()
        assert own["owner"] == "bridge-a" and own["stream_urls"]["rtsp"] == "rtsp://bridge-a.lan:8554/yard"
        await rec.wait(lambda: [m for m in rec.on(f"{prefix}/{remote}/stream") if m.payload and
                                json.loads(m.payload)["urls"]["rtsp"] == f"rtsp://bridge-b.lan:8554/{remote}"],
                       10, "the stream topic names the owner's MediaMTX")
        async with http.get("/api/cameras/nope") as resp:
            assert resp.status == 404

        # the list shows the cluster's cameras, each where it runs
        async with http.get("/api/cameras") as resp:  # without ?remote=true: what this bridge runs
            assert {c["id"] for c in (await resp.json())["cameras"]} == {"yard"}
        async with http.get("/api/cameras?remote=true") as resp:
            whole = await resp.json()
        conforms("/api/cameras", "get", 200, whole)
        listed = {c["id"]: c for c in whole["cameras"]}
        assert set(listed) == set(a.node.rows()) and remote in listed, listed.keys()
        assert listed[remote]["remote"] is True and listed[remote]["owner"] == "bridge-b"
        assert listed[remote]["state"] == "streaming" and "remote" not in listed["yard"]
        assert listed["yard"]["owner"] == "bridge-a"
        async with http.get("/api/cameras?remote=true", headers={"X-API-Key": key}) as resp:
            assert resp.status == 200
            seen = {c["id"] for c in (await resp.json())["cameras"]}
        assert seen == set(listed) - {"yard"}  # the remote camera too, the one it may not see left out

        # a timelapse made on bridge-a for bridge-b's camera: the cluster's, bridge-b captures it
        resp = await http.post("/api/timelapses", json={"id": "porch_tl", "camera": remote})
        made = await resp.json()
        assert resp.status == 202, made
        conforms("/api/timelapses", "post", 202, made)
        assert made["remote"] is True and made["owner"] == "bridge-b" and made["assigned"] == "bridge-b"
        assert resp.headers["Location"] == "/api/timelapses/porch_tl"
        await until(lambda: _true(b.timelapses is not None and "porch_tl" in b.timelapses.timelapses
                                  and b.timelapses.timelapses["porch_tl"].frames >= 2), 30,
                    "bridge-b capturing the timelapse")
        async with http.get("/api/timelapses/porch_tl/frames") as resp:  # bridge-a lists bridge-b's frames
            page = await resp.json()
        assert page["total"] >= 2, page
        async with http.get(page["frames"][0]["url"]) as resp:  # their files are on bridge-b's disk
            assert resp.status == 404
            assert (await resp.json())["message"] == "frame is on bridge bridge-b's disk (no shared timelapse.storage)"

        # rendered on bridge-b (no shared storage): bridge-a lists the video and says where it is
        async with aiohttp.ClientSession(f"http://127.0.0.1:{b.api.port}") as http_b:
            async with http_b.post("/api/timelapses/porch_tl/actions/render") as resp:
                assert resp.status == 202, await resp.text()

            async def listed_video():
                async with http.get("/api/timelapses/porch_tl/videos") as resp:
                    return (await resp.json())["videos"]

            video = (await until(listed_video, 60, "the video listed on bridge-a"))[0]
            async with http.get(video["url"]) as resp:
                gone = await resp.json()
            assert resp.status == 404
            conforms("/api/timelapses/{id}/videos/{video}", "get", 404, gone)
            assert gone["message"] == "video is on bridge bridge-b's disk (no shared timelapse.storage)"
            async with http_b.get(video["url"]) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"

        # bridge-b stops cleanly: the camera moves to bridge-a, and its stream URLs with it
        await stack.aclose()

        async def moved():
            async with http.get(f"/api/cameras/{remote}") as resp:
                body = await resp.json()
            return body if body.get("owner") == "bridge-a" and body["state"] == "streaming" else None

        body = await until(moved, 30, f"{remote} streaming on bridge-a")
        assert "remote" not in body and body["stream_urls"]["rtsp"] == f"rtsp://bridge-a.lan:8554/{remote}"
        await until(lambda: _true(remote in media_a.paths), 10, "the path on bridge-a's MediaMTX")


def conforms(path: str, method: str, status: int, body: object) -> None:
    """Assert that ``body`` is what the OpenAPI document says ``method path`` answers with
    ``status`` (JSON)."""
    import jsonschema

    from bridge.api.openapi import spec

    doc = spec()
    answer = doc["paths"][path][method]["responses"][str(status)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    jsonschema.Draft202012Validator({**doc, **answer["content"]["application/json"]["schema"]}).validate(body)


async def _both(bridge) -> bool:
    return await bridge.node.member.members() == ["bridge-a", "bridge-b"]


async def _true(value: bool) -> bool:
    return value


class Partition:
    """A TCP relay to PostgreSQL for one bridge that can be cut: from :meth:`cut` on it forwards
    nothing more either way and never answers a new connection (a black hole, as a network
    partition is), while the other bridges still reach the server directly."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.cut_off = False
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            return  # accepted, never answered
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await src.read(65536):
                if self.cut_off:
                    continue  # swallowed: the peer waits for an answer that never comes
                dst.write(data)
                await dst.drain()

    def cut(self) -> None:
        self.cut_off = True

    async def close(self) -> None:
        for task in list(self._pipes):
            task.cancel()
        if self.server is not None:
            self.server.close()


async def test_a_bridge_cut_off_from_the_database_stops_its_cameras_before_its_leases_expire(
        peers, cluster_rtsp, dsn, prefix, tmp_path):
    """Two full bridges; one reaches PostgreSQL through a relay that is then cut (a black
    hole, the other bridge still connected). It stops every camera it ran before the database's
    ``expires_at`` of that camera's lease, and only then does the other bridge take them (so no
    camera is captured by both at once)."""
    import asyncpg

    from bridge.app import Bridge
    from bridge.config import parse
    from bridge.core.events import CameraReleased

    broker, _, pg = peers
    relay = Partition(pg.port)
    relay_port = await relay.start()
    cut_dsn = dsn.replace(f":{pg.port}/", f":{relay_port}/")
    cameras = {f"cam{i}": {"url": cluster_rtsp.url} for i in range(4)}

    def config(name: str, database: str, cams: dict) -> str:
        return yaml.safe_dump({
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": prefix,
                     "discovery_prefix": f"{prefix}_ha", "ha_status_topic": f"{prefix}_ha/status"},
            "cameras": cams, "api": {"enabled": False}, "data_dir": str(tmp_path / name),
            "cluster": {"dsn": database, "name": name, "lease_ttl": TTL, "renew_interval": RENEW}})

    db = await asyncpg.connect(dsn)
    stopped: dict[str, float] = {}
    try:
        async with Bridge(parse(config("bridge-p", cut_dsn, cameras))) as cut, \
                Bridge(parse(config("bridge-q", dsn, {}))) as other:
            cut.events.listen(lambda e: stopped.setdefault(e.camera, time.time())
                              if isinstance(e, CameraReleased) else None)
            deadline = time.monotonic() + 30
            while not (len(cut.cameras) == len(other.cameras) == 2  # the split settled (bounded loads)
                       and all(c.status.state == "streaming" for c in [*cut.cameras.values(),
                                                                      *other.cameras.values()])):
                assert time.monotonic() < deadline, (set(cut.cameras), set(other.cameras))
                await asyncio.sleep(0.2)
            stopped.clear()  # the hand-over of the split
            mine = set(cut.cameras)
            relay.cut()
            cut_at = time.time()
            rows = await db.fetch("SELECT camera, epoch, extract(epoch FROM expires_at)::float8 AS expires"
                                  " FROM camera_bridge_leases WHERE owner = 'bridge-p'")
            expires = {r["camera"]: r["expires"] for r in rows}
            assert set(expires) == mine
            deadline = time.monotonic() + TTL + 10
            while set(other.cameras) != set(cameras) or any(
                    c.status.state != "streaming" for c in other.cameras.values()):
                assert time.monotonic() < deadline, (set(other.cameras), stopped)
                await asyncio.sleep(0.2)
            assert set(stopped) == mine and not cut.cameras
            for camera in mine:  # stopped before its lease could expire, and well after the cut
                assert cut_at < stopped[camera] < expires[camera], (camera, cut_at, stopped, expires)
            log = await db.fetch("SELECT camera, owner, extract(epoch FROM at)::float8 AS at"
                                 " FROM camera_bridge_lease_log WHERE event = 'taken' AND owner = 'bridge-q'")
            taken: dict[str, float] = {}
            for r in log:
                taken[r["camera"]] = max(r["at"], taken.get(r["camera"], 0.0))
            assert mine <= set(taken)
            for camera in mine:  # the other took each only after the cut-off one had stopped it
                assert taken[camera] > stopped[camera], (camera, taken, stopped)
    finally:
        await db.close()
        await relay.close()


async def test_a_fourth_bridge_takes_about_a_quarter_and_no_camera_moves_twice(peers, cluster, dsn, prefix,
                                                                               tmp_path, cluster_rtsp):
    """Three full bridges split twelve cameras 4/4/4; a fourth joins: it streams 3 (+-1) of them,
    taken from the others, and the lease log shows no camera taken more than once since."""
    import asyncpg

    broker = peers[0]
    async with recording(broker.port, prefix) as rec:
        status = Statuses(rec, prefix)
        await asyncio.wait_for(settled(rec, status, cluster), 120)
        db = await asyncpg.connect(dsn)
        try:
            mark = await db.fetchval("SELECT coalesce(max(id), 0) FROM camera_bridge_lease_log")
            joined = time.monotonic()
            cluster.append(BridgeProcess(tmp_path, "bridge-d", broker.port, prefix, dsn, cluster_rtsp.url, []))
            names = (*NAMES, "bridge-d")
            try:
                await rec.wait(lambda: split_ok(status.streaming_owners(joined), names)
                               and len(status.streaming_owners(joined)) == len(CAMERAS), 60, "a 3/3/3/3 split")
                owners = status.streaming_owners(joined)
                await asyncio.sleep(3)  # settled: nothing else moves
                assert status.streaming_owners(joined) == owners
            except AssertionError:
                raise AssertionError("\n".join([str(status.latest())] + [b.tail() for b in cluster])) from None
            rows = await db.fetch("SELECT camera, owner FROM camera_bridge_lease_log WHERE id > $1 AND event = 'taken'",
                                  mark)
        finally:
            await db.close()
    takes = collections.Counter(r["camera"] for r in rows)
    assert takes and max(takes.values()) == 1, takes  # no camera moved twice
    assert {r["owner"] for r in rows} == {"bridge-d"}  # only the newcomer took cameras
    assert 2 <= collections.Counter(status.streaming_owners().values())["bridge-d"] <= 4
