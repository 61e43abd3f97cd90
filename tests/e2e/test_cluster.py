"""Cluster leases on a real PostgreSQL server: several bridge processes share twelve cameras,
each camera owned by exactly one live member; failover after SIGKILL, a paused member that
must not publish what it lost, a database restart that restarts nothing, clean hand-over, and a
joining member that takes its share without any camera moving twice."""

from __future__ import annotations

import collections
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from bridge.cluster.assign import assign

from .. import postgres
from ..peers import REPO

pytestmark = pytest.mark.skipif(not postgres.available(), reason="PostgreSQL 15 is not installed")

CAMERAS = [f"cam{i:02d}" for i in range(12)]
TTL, RENEW = 3.0, 1.0


class Member:
    """A cluster member process (tests/cluster_child.py) and the facts it printed."""

    def __init__(self, dsn: str, name: str, *, ttl: float = TTL, cameras: list[str] = CAMERAS) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster_child", dsn, name, ",".join(cameras), str(ttl),
             str(RENEW)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self.events: list[tuple[str, ...]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(tuple(line.split()))

    def running(self) -> set[str]:
        """Cameras taken and not lost since."""
        held: set[str] = set()
        for event in list(self.events):
            if event[0] == "take":
                held.add(event[1])
            elif event[0] == "lose":
                held.discard(event[1])
        return held

    def pubs(self) -> list[tuple[float, str, int]]:
        """``(time, camera, epoch)`` of each publish."""
        return [(float(e[3]), e[1], int(e[2])) for e in list(self.events) if e[0] == "pub"]

    def epochs(self) -> dict[str, int]:
        """The epoch of each camera's latest take."""
        return {e[1]: int(e[2]) for e in list(self.events) if e[0] == "take"}

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        postgres.stop_process(self.proc)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[postgres.Postgres]:
    with postgres.running() as server:
        yield server


@pytest.fixture
def pg(pg_server: postgres.Postgres) -> postgres.Database:
    """The test's own database on the module's server (no initdb per test)."""
    return postgres.Database(pg_server, postgres.fresh_database(pg_server))


@pytest.fixture
def members(pg: postgres.Database) -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for member in started:
        member.stop()


def wait_for(check, timeout: float, what: str) -> float:
    """Poll ``check`` until true; returns the seconds it took. Fails with ``what``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


def owners(members: list[Member]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = collections.defaultdict(list)
    for member in members:
        for camera in member.running():
            found[camera].append(member.name)
    return found


def all_owned_once(members: list[Member], alive: list[Member] | None = None) -> bool:
    held = owners(alive if alive is not None else members)
    return sorted(held) == CAMERAS and all(len(v) == 1 for v in held.values())


def assert_never_two_publishers(members: list[Member]) -> None:
    """Per camera, in time order, the fencing tokens of the publishes never go down: once a
    bridge took a camera (a new epoch), no bridge published it under an older lease, so no two
    bridges published one camera at interleaved times."""
    by_camera: dict[str, list[tuple[float, int, str]]] = collections.defaultdict(list)
    for member in members:
        for at, camera, epoch in member.pubs():
            by_camera[camera].append((at, epoch, member.name))
    for camera, pubs in by_camera.items():
        pubs.sort()
        backwards = [(a, b) for a, b in itertools.pairwise(pubs) if b[1] < a[1]]
        assert not backwards, f"{camera} published under an older lease after a newer one: {backwards[:3]}"
        by_epoch = collections.defaultdict(set)
        for _, epoch, name in pubs:
            by_epoch[epoch].add(name)
        assert all(len(names) == 1 for names in by_epoch.values()), f"{camera}: {dict(by_epoch)}"


def test_assignment_is_balanced_and_moves_only_to_a_new_member():
    three = assign(CAMERAS, ["a", "b", "c"])
    assert sorted(collections.Counter(three.values()).values()) == [4, 4, 4]
    four = assign(CAMERAS, ["a", "b", "c", "d"], three)
    moved = {c: (three[c], four[c]) for c in CAMERAS if three[c] != four[c]}
    assert sorted(collections.Counter(four.values()).values()) == [3, 3, 3, 3]
    assert all(new == "d" for _, new in moved.values()) and len(moved) == 3
    gone = assign(CAMERAS, ["a", "c", "d"], four)
    assert all(four[c] == "b" for c in CAMERAS if gone[c] != four[c])


def test_three_bridges_split_the_cameras_and_take_over_from_a_killed_one(pg, members):
    members.extend(Member(pg.dsn, f"bridge-{x}") for x in "abc")
    wait_for(lambda: all_owned_once(members)
             and all(3 <= len(m.running()) <= 5 for m in members), 30, "a 4/4/4 split")
    victim = members[0]
    lost = victim.running()
    victim.signal(signal.SIGKILL)
    victim.proc.wait(5)
    took = wait_for(lambda: all_owned_once(members, members[1:]), TTL + 10, "failover")
    assert took <= TTL + 10
    assert lost <= set().union(*(m.running() for m in members[1:]))
    assert_never_two_publishers(members)


def test_a_paused_bridge_does_not_publish_the_cameras_it_lost(pg, members):
    members.extend(Member(pg.dsn, f"bridge-{x}") for x in "ab")
    wait_for(lambda: all_owned_once(members) and all(m.running() for m in members), 30, "a split")
    paused = members[0]
    lost = paused.running()
    old = paused.epochs()
    paused.signal(signal.SIGSTOP)
    wait_for(lambda: lost <= members[1].running(), TTL + 10, "take-over from the paused bridge")
    resumed_at = time.time()
    paused.signal(signal.SIGCONT)
    wait_for(lambda: not paused.running(), 5, "the resumed bridge stopping its lost cameras")
    time.sleep(2 * RENEW)
    late = [(at, camera) for at, camera, epoch in paused.pubs()
            if at >= resumed_at and camera in lost and epoch <= old[camera]]
    assert late == []
    assert_never_two_publishers(members)


def test_a_database_restart_restarts_no_camera(pg, members):
    members.extend(Member(pg.dsn, f"bridge-{x}") for x in "ab")
    wait_for(lambda: all_owned_once(members) and all(len(m.running()) == 6 for m in members), 30,
             "a 6/6 split")
    before = [len(m.events) for m in members]
    pg.stop("fast")
    time.sleep(RENEW)
    pg.start()
    time.sleep(3 * RENEW)
    after = [[e for e in m.events[n:] if e[0] in ("take", "lose")] for m, n in zip(members, before)]
    assert after == [[], []]
    assert all_owned_once(members)
    newest = max(at for m in members for at, _, _ in m.pubs())
    assert time.time() - newest < 1


def test_a_clean_stop_hands_over_before_the_ttl(pg, members):
    long_ttl = 20.0
    members.extend(Member(pg.dsn, f"bridge-{x}", ttl=long_ttl) for x in "ab")
    wait_for(lambda: all_owned_once(members) and all(m.running() for m in members), 30, "a split")
    leaving = members[0]
    handed = leaving.running()
    leaving.stop()
    took = wait_for(lambda: handed <= members[1].running(), long_ttl, "hand-over")
    assert took < 5
    assert_never_two_publishers(members)


def test_a_fourth_bridge_takes_a_quarter_and_no_camera_moves_twice(pg, members):
    members.extend(Member(pg.dsn, f"bridge-{x}") for x in "abc")
    wait_for(lambda: all_owned_once(members) and all(len(m.running()) == 4 for m in members), 30,
             "a 4/4/4 split")
    marks = [len(m.events) for m in members]
    members.append(Member(pg.dsn, "bridge-d"))
    marks.append(0)
    wait_for(lambda: all_owned_once(members) and 2 <= len(members[3].running()) <= 4, 30,
             "the fourth bridge taking its share")
    time.sleep(3 * RENEW)  # settled: nothing else moves
    takes = collections.Counter(e[1] for m, n in zip(members, marks) for e in m.events[n:] if e[0] == "take")
    assert max(takes.values()) == 1
    assert len(members[3].running()) in (3,)
    assert_never_two_publishers(members)


def test_leases_carry_an_increasing_epoch(pg, members):
    import asyncio

    import asyncpg

    members.append(Member(pg.dsn, "bridge-a", cameras=["cam00"]))
    wait_for(lambda: members[0].running() == {"cam00"}, 30, "a lease")
    members[0].signal(signal.SIGKILL)
    members.append(Member(pg.dsn, "bridge-b", cameras=["cam00"]))
    wait_for(lambda: members[1].running() == {"cam00"}, TTL + 10, "a new lease")

    async def history() -> list[tuple[str, int, str]]:
        conn = await asyncpg.connect(pg.dsn)
        try:
            rows = await conn.fetch("SELECT owner, epoch, event FROM camera_bridge_lease_log"
                                    " WHERE camera = 'cam00' ORDER BY id")
        finally:
            await conn.close()
        return [(r["owner"], r["epoch"], r["event"]) for r in rows]

    assert asyncio.run(history()) == [("bridge-a", 1, "taken"), ("bridge-b", 2, "taken")]
    wait_for(lambda: members[1].pubs(), 5, "a publish")
    assert {epoch for _, _, epoch in members[1].pubs()} == {2}


def test_cluster_status_shows_members_and_their_cameras(pg, members, tmp_path):
    members.extend(Member(pg.dsn, f"bridge-{x}") for x in "ab")
    wait_for(lambda: all_owned_once(members) and all(len(m.running()) == 6 for m in members), 30,
             "a 6/6 split")
    config = tmp_path / "c.yaml"
    config.write_text(f"mqtt: {{host: 127.0.0.1}}\ncameras: {{}}\ncluster: {{dsn: '{pg.dsn}'}}\n")
    out = subprocess.run([sys.executable, "-m", "bridge", "cluster", "status", "--config", str(config),
                          "--json"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    import json

    shown = json.loads(out.stdout)
    held = {m["name"]: sorted(m["cameras"]) for m in shown["members"]}
    assert held == {m.name: sorted(m.running()) for m in members}
    assert all(m["live"] for m in shown["members"])
    assert {c: v["owner"] for c, v in shown["leases"].items()} == {
        c: m.name for m in members for c in m.running()}
    down = subprocess.run([sys.executable, "-m", "bridge", "cluster", "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "CAMERA_BRIDGE_CLUSTER__DSN":
                               "postgresql://u:pw123@127.0.0.1:1/x"})
    assert down.returncode == 1 and "cannot read the cluster database" in down.stderr
    assert "pw123" not in down.stderr
