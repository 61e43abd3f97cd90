"""Camera leases in PostgreSQL: one live owner per camera, with an epoch as fencing token.

A lease row is ``(camera, owner, epoch, expires_at)``. It is taken with a conditional upsert
(only when free or expired), renewed with a conditional update (only by its owner at its epoch
while unexpired) and released by its owner. Every take increments ``epoch``, so a bridge that
lost a lease and comes back (after a pause, a partition) carries an old epoch: every write it makes
for the camera is conditional on ``(owner, epoch)`` still holding and is refused otherwise
(Kleppmann, "How to do distributed locking", 2016: fencing tokens).

Expiry is judged on the database server's clock (``now()``), so bridges need no synchronised
clocks. Each bridge also keeps a conservative local deadline: the monotonic time at which it
*sent* the renewal plus the TTL; it stops a camera before that deadline when renewals fail, so
the camera is never captured by two bridges at once.

Every take, release and loss is appended to ``camera_bridge_lease_log`` (the history the tests
and ``camera-bridge cluster status`` read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS camera_bridge_members (
    name TEXT PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS camera_bridge_leases (
    camera TEXT PRIMARY KEY,
    owner TEXT,                      -- NULL when released
    epoch BIGINT NOT NULL,           -- fencing token: +1 at every take
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS camera_bridge_lease_log (
    id BIGSERIAL PRIMARY KEY,
    camera TEXT NOT NULL,
    owner TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    event TEXT NOT NULL,             -- taken, released
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
"""

#: the LISTEN/NOTIFY channel told of every released lease and membership change
CHANNEL = "camera_bridge_cluster"


@dataclass(frozen=True)
class Lease:
    """A lease this bridge holds.

    ``epoch`` is the fencing token; ``deadline`` is the local ``time.monotonic()`` (seconds) by
    which the lease must be renewed or given up (send time of the last successful take/renewal
    plus the TTL: never later than the database's ``expires_at``).
    """

    camera: str
    owner: str
    epoch: int
    deadline: float

    def valid(self, now: float | None = None) -> bool:
        """True while the local deadline has not passed."""
        return (time.monotonic() if now is None else now) < self.deadline


async def take(conn: Any, camera: str, owner: str, ttl: float) -> Lease | None:
    """Take the lease of ``camera`` if it is free or expired (or already ours: then renewed).

    ``conn`` is an asyncpg connection (or pool); ``ttl`` in seconds. Returns the lease, or None
    when another live bridge holds it. Raises asyncpg/OSError errors when the database cannot
    be reached.
    """
    sent = time.monotonic()
    row = await conn.fetchrow(
        """
        WITH taken AS (
            INSERT INTO camera_bridge_leases AS l (camera, owner, epoch, expires_at)
            VALUES ($1, $2, 1, now() + make_interval(secs => $3))
            ON CONFLICT (camera) DO UPDATE
                SET owner = EXCLUDED.owner,
                    epoch = l.epoch + CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > now()
                                           THEN 0 ELSE 1 END,
                    expires_at = EXCLUDED.expires_at
                WHERE l.owner IS NULL OR l.expires_at <= now() OR l.owner = EXCLUDED.owner
            RETURNING epoch
        ), logged AS (
            INSERT INTO camera_bridge_lease_log (camera, owner, epoch, event)
            SELECT $1, $2, epoch, 'taken' FROM taken
            WHERE NOT EXISTS (SELECT 1 FROM camera_bridge_lease_log g
                              WHERE g.camera = $1 AND g.owner = $2 AND g.epoch = taken.epoch
                                AND g.event = 'taken')
        )
        SELECT epoch FROM taken
        """,
        camera,
        owner,
        float(ttl),
    )
    if row is None:
        return None
    return Lease(camera, owner, int(row["epoch"]), sent + ttl)


async def renew(conn: Any, lease: Lease, ttl: float) -> Lease | None:
    """Extend ``lease`` by ``ttl`` seconds; None when it was lost (expired or taken over)."""
    sent = time.monotonic()
    row = await conn.fetchrow(
        """
        UPDATE camera_bridge_leases SET expires_at = now() + make_interval(secs => $4)
        WHERE camera = $1 AND owner = $2 AND epoch = $3 AND expires_at > now()
        RETURNING epoch
        """,
        lease.camera,
        lease.owner,
        lease.epoch,
        float(ttl),
    )
    return None if row is None else Lease(lease.camera, lease.owner, lease.epoch, sent + ttl)


async def release(conn: Any, lease: Lease) -> bool:
    """Give ``lease`` up (hand-over: the next owner need not wait for the TTL) and NOTIFY.

    Returns False when it was no longer ours.
    """
    row = await conn.fetchrow(
        """
        WITH freed AS (
            UPDATE camera_bridge_leases SET owner = NULL, expires_at = now()
            WHERE camera = $1 AND owner = $2 AND epoch = $3
            RETURNING camera
        ), logged AS (
            INSERT INTO camera_bridge_lease_log (camera, owner, epoch, event)
            SELECT $1, $2, $3, 'released' FROM freed
        )
        SELECT camera, pg_notify($4, 'released:' || camera) FROM freed
        """,
        lease.camera,
        lease.owner,
        lease.epoch,
        CHANNEL,
    )
    return row is not None


async def holds(conn: Any, lease: Lease) -> bool:
    """True when the database still has ``lease`` (owner and epoch) unexpired: the fencing check
    a write for the camera makes in the same transaction."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM camera_bridge_leases WHERE camera = $1 AND owner = $2"
            " AND epoch = $3 AND expires_at > now())",
            lease.camera,
            lease.owner,
            lease.epoch,
        )
    )


async def owners(conn: Any) -> dict[str, tuple[str, int]]:
    """``{camera: (owner, epoch)}`` of every unexpired lease."""
    rows = await conn.fetch(
        "SELECT camera, owner, epoch FROM camera_bridge_leases WHERE owner IS NOT NULL AND expires_at > now()"
    )
    return {r["camera"]: (r["owner"], int(r["epoch"])) for r in rows}
