"""A bridge's membership of a cluster: heartbeats, leases taken and renewed, hand-over.

``ClusterMember`` is a long-lived part (async context manager, named tasks
``cluster.heartbeat``, ``cluster.balance``, ``cluster.listen``). It holds no pointer to its owner:
it is given the camera ids of the cluster (a callable) and two callbacks, ``on_take(lease)``
(start the camera, carrying ``lease.epoch`` as fencing token) and ``on_lose(camera)`` (stop it),
as aioesphomeapi's ``ReconnectLogic`` is given ``on_connect``/``on_disconnect``.

Safety: a camera is stopped (``on_lose`` awaited) *before* its lease is released, and when
renewals fail (database unreachable, bridge paused) it is stopped before the local deadline of
its lease passes (``Lease.deadline``, which is never later than the database's expiry), so no
camera is ever captured by two bridges at once. A database that comes back within the TTL (a
restart) finds every lease still valid: the bridge renews and no camera restarts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from ..faults import WarnOnce
from ..service import Service
from ..timelapse.shared import SCHEMA as TIMELAPSES_SCHEMA
from . import lease as leases
from .assign import assign
from .cameras import SCHEMA as CAMERAS_SCHEMA

_LOGGER = logging.getLogger(__name__)

#: seconds, at least, a new database connection may take before it counts as failed
CONNECT_TIMEOUT = 2.0

#: seconds a new member must have been heartbeating before cameras move to it (no flapping)
SETTLE = 3.0


class ClusterMember(Service):
    """This bridge as member ``name`` of the cluster in the PostgreSQL database at ``dsn``.

    ``ttl`` (seconds, default 15) is the lease lifetime and the heartbeat age after which a member
    counts as gone; ``renew`` (seconds, default 5) the heartbeat/renewal period. Raises the
    driver's error on entry when the database cannot be reached.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        cameras: Callable[[], Iterable[str] | Awaitable[Iterable[str]]],
        on_take: Callable[[leases.Lease], Awaitable[None]],
        on_lose: Callable[[str], Awaitable[None]],
        *,
        ttl: float = 15.0,
        renew: float = 5.0,
        settle: float = SETTLE,
    ) -> None:
        super().__init__()
        self.name = name
        self._dsn = dsn
        self._cameras = cameras
        self._on_take = on_take
        self._on_lose = on_lose
        self.ttl = ttl
        self.renew_every = renew
        self._settle = settle
        self.held: dict[str, leases.Lease] = {}
        #: camera -> the member it is assigned to, as of the last balance
        self.assigned: dict[str, str] = {}
        self._pool: Any = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.connected = False
        self.renew_failures = 0
        self.failovers = 0
        self._fault = WarnOnce(_LOGGER, logging.WARNING)  #: renewals failing

    # --- lifecycle -------------------------------------------------------------------------
    async def _start(self) -> None:
        import asyncpg  # only a clustered bridge needs the driver

        # every round trip is bounded, a new connection too: a database behind a black hole (a
        # partition, no answer at all) fails each call in seconds instead of asyncpg's 60 s
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=3,
            command_timeout=self.renew_every,
            timeout=max(self.renew_every, CONNECT_TIMEOUT),
        )
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(7244101)")  # one schema creator at a time
            try:
                await conn.execute(leases.SCHEMA + CAMERAS_SCHEMA + TIMELAPSES_SCHEMA)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(7244101)")
        await self._heartbeat()
        self.connected = True

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {
            "cluster.heartbeat": self._heartbeat_loop(),
            "cluster.expire": self._expire_loop(),
            "cluster.balance": self._balance_loop(),
            "cluster.listen": self._listen_loop(),
        }

    async def _finish(self) -> None:
        """Clean stop: stop each camera, then release its lease (hand-over within seconds)."""
        async with self._lock:
            for camera in list(self.held):
                await self._drop(camera, release=True)
            try:
                await self._pool.execute("DELETE FROM camera_bridge_members WHERE name = $1", self.name)
                await self._pool.execute("SELECT pg_notify($1, 'left:' || $2)", leases.CHANNEL, self.name)
            except Exception as err:
                _LOGGER.debug("cluster: could not leave cleanly: %s", err)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            if self._pool is not None:
                pool, self._pool = self._pool, None
                pool.terminate()

    # --- what others read -------------------------------------------------------------------
    @property
    def pool(self) -> Any:
        """The asyncpg pool (None before entry and after exit)."""
        return self._pool

    def valid(self, camera: str) -> bool:
        """True while this bridge may capture and publish ``camera`` (lease held, local deadline
        not passed): the check every write for the camera makes."""
        held = self.held.get(camera)
        return held is not None and held.valid()

    def epoch(self, camera: str) -> int | None:
        """The fencing token of ``camera``'s lease, or None when not held."""
        held = self.held.get(camera)
        return None if held is None else held.epoch

    # --- loops -------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        await self._pool.execute(
            "INSERT INTO camera_bridge_members (name, heartbeat_at, joined_at) VALUES ($1, now(), now())"
            " ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(),"
            # back after being gone (paused, cut off): it settles again, as a new member does
            " joined_at = CASE WHEN camera_bridge_members.heartbeat_at"
            " < now() - make_interval(secs => $2) THEN now() ELSE camera_bridge_members.joined_at END",
            self.name,
            float(self.ttl),
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._expire_local()
            try:
                await self._heartbeat()
                async with self._lock:
                    for camera, held in list(self.held.items()):
                        renewed = await leases.renew(self._pool, held, self.ttl)
                        if renewed is None:
                            _LOGGER.warning("cluster: lease of %s (epoch %s) was lost", camera, held.epoch)
                            await self._drop(camera, release=False)
                        else:
                            self.held[camera] = renewed
                self._fault.cleared("cluster: database reachable again")
                self.connected = True
            except (TimeoutError, OSError, Exception) as err:
                if isinstance(err, asyncio.CancelledError):
                    raise
                self.renew_failures += 1
                self.connected = False
                self._fault.failed("cluster: cannot renew leases: %s", err)
            self._wake.set()
            await asyncio.sleep(self._until_next())

    def _until_next(self) -> float:
        """Seconds to the next renewal: the period, or sooner when a lease nears its deadline."""
        soonest = min((h.deadline for h in self.held.values()), default=None)
        wait = self.renew_every
        if soonest is not None:
            wait = min(wait, max(0.05, soonest - time.monotonic() - self.renew_every))
        return wait

    async def _expire_loop(self) -> None:
        """Stop each camera before its local deadline, on its own clock: never behind a renewal,
        a balance or a connection attempt that hangs (a database that does not answer)."""
        while True:
            soonest = min((h.deadline for h in self.held.values()), default=None)
            wait = self.renew_every
            if soonest is not None:
                wait = min(wait, max(0.05, soonest - time.monotonic() - self.renew_every / 2))
            await asyncio.sleep(wait)
            await self._expire_local()

    async def _expire_local(self) -> None:
        """Stop every camera whose lease would pass its local deadline before the next renewal
        could land (database unreachable or the process was paused). Takes no lock: a balance
        holding it may wait on the database, and the deadline does not wait."""
        now = time.monotonic()
        late = [c for c, h in self.held.items() if h.deadline - now <= self.renew_every / 2]
        for camera in late:
            if camera in self.held:
                _LOGGER.warning("cluster: stopping %s: its lease could not be renewed in time", camera)
                await self._drop(camera, release=False)

    async def _listen_loop(self) -> None:
        import asyncpg

        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(leases.CHANNEL, lambda *_: self._wake.set())
                while not conn.is_closed():
                    await asyncio.sleep(self.renew_every)
            except (OSError, Exception) as err:
                if isinstance(err, asyncio.CancelledError):
                    raise
                _LOGGER.debug("cluster: listen connection: %s", err)
            finally:
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(self.renew_every)

    async def _balance_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.renew_every)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.balance()
            except (OSError, Exception) as err:
                if isinstance(err, asyncio.CancelledError):
                    raise
                _LOGGER.debug("cluster: balance: %s", err)

    async def members(self) -> list[str]:
        """Live members (heartbeat within the TTL) that have settled, this bridge included."""
        rows = await self._pool.fetch(
            "SELECT name, joined_at <= now() - make_interval(secs => $2) AS settled"
            " FROM camera_bridge_members WHERE heartbeat_at > now() - make_interval(secs => $1)",
            float(self.ttl),
            float(self._settle),
        )
        return sorted({r["name"] for r in rows if r["settled"]} | {self.name})

    async def balance(self) -> None:
        """Take the cameras this bridge should own that are free; hand over those it should not."""
        async with self._lock:
            listed = self._cameras()
            if inspect.isawaitable(listed):
                listed = await listed
            cameras = sorted(set(listed))
            members = await self.members()
            current = {c: o for c, (o, _) in (await leases.owners(self._pool)).items()}
            desired = assign(cameras, members, current)
            self.assigned = desired
            for camera in list(self.held):
                if desired.get(camera) != self.name:
                    _LOGGER.info("cluster: handing %s over to %s", camera, desired.get(camera))
                    await self._drop(camera, release=True)
            for camera in cameras:
                if desired.get(camera) != self.name or camera in self.held:
                    continue
                previous = current.get(camera)
                if previous is not None and previous != self.name:
                    continue  # still leased by its previous owner: it hands over or expires
                taken = await leases.take(self._pool, camera, self.name, self.ttl)
                if taken is None:
                    continue
                if previous is None and await self._was_lost(camera, taken.epoch):
                    self.failovers += 1
                self.held[camera] = taken
                _LOGGER.info("cluster: took %s (epoch %s)", camera, taken.epoch)
                await self._on_take(taken)

    async def _was_lost(self, camera: str, epoch: int) -> bool:
        """True when the previous lease of ``camera`` expired instead of being released."""
        if epoch <= 1:
            return False
        released = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM camera_bridge_lease_log WHERE camera = $1 AND epoch = $2"
            " AND event = 'released')",
            camera,
            epoch - 1,
        )
        return not released

    async def _drop(self, camera: str, *, release: bool) -> None:
        """Stop ``camera`` (``on_lose``), then release its lease when asked and still reachable."""
        held = self.held.pop(camera, None)
        if held is None:
            return
        try:
            await self._on_lose(camera)
        finally:
            if release:
                try:
                    await leases.release(self._pool, held)
                except (OSError, Exception) as err:
                    if isinstance(err, asyncio.CancelledError):
                        raise
                    _LOGGER.debug("cluster: release of %s failed: %s", camera, err)
