"""The cluster's shared camera registry in PostgreSQL: cameras added through the API (and the
YAML cameras of clustered bridges), with their on/off and detection switches.

One row per camera: ``config`` (JSONB, the camera's options as the registry stores them),
``origin`` (``yaml:<bridge>`` or ``api``), ``enabled`` and ``detection`` switches, and
``runtime`` (JSONB: what its owner last said of it: ``owner``, ``epoch``, ``state``,
``stream_urls``; written by the owner, fenced, without a NOTIFY). Every change of the others
sends a NOTIFY on :data:`~bridge.cluster.lease.CHANNEL` (``camera:<id>``) so every bridge reacts
at once. A write made for a camera by the bridge that owns it can be fenced: it is applied only
while ``(owner, epoch)`` still holds the camera's lease, in the same statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import BridgeError
from .lease import CHANNEL, Lease

SCHEMA = """
CREATE TABLE IF NOT EXISTS camera_bridge_cameras (
    id TEXT PRIMARY KEY,
    config JSONB NOT NULL,
    origin TEXT NOT NULL,            -- api, or yaml:<bridge name>
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    detection BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- what the owner says of the camera (no NOTIFY: read at every balance)
ALTER TABLE camera_bridge_cameras ADD COLUMN IF NOT EXISTS runtime JSONB;
"""


class FencedOut(BridgeError):
    """Raised when a fenced write is refused: the writer no longer holds the camera's lease
    (``camera`` and the stale ``epoch`` are attributes)."""

    def __init__(self, camera: str, epoch: int) -> None:
        super().__init__(f"camera {camera}: lease epoch {epoch} is no longer held")
        self.camera, self.epoch = camera, epoch


@dataclass(frozen=True)
class SharedCamera:
    """One row of the shared registry."""

    id: str
    config: dict[str, Any]
    origin: str
    enabled: bool
    detection: bool


class SharedCameras:
    """The shared registry over an asyncpg pool (or connection) ``db``."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def setup(self) -> None:
        """Create the table if missing."""
        await self._db.execute(SCHEMA)

    async def all(self) -> dict[str, SharedCamera]:
        """Every camera of the cluster, by id."""
        rows = await self._db.fetch(
            "SELECT id, config, origin, enabled, detection FROM camera_bridge_cameras ORDER BY id"
        )
        return {
            r["id"]: SharedCamera(r["id"], json.loads(r["config"]), r["origin"], r["enabled"], r["detection"])
            for r in rows
        }

    async def put(self, cam_id: str, config: dict[str, Any], origin: str) -> None:
        """Add or change a camera's options (its switches are kept) and NOTIFY."""
        await self._db.execute(
            """
            WITH up AS (
                INSERT INTO camera_bridge_cameras (id, config, origin) VALUES ($1, $2::jsonb, $3)
                ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, origin = EXCLUDED.origin,
                                               updated_at = now()
                RETURNING id
            )
            SELECT pg_notify($4, 'camera:' || id) FROM up
            """,
            cam_id,
            json.dumps(config),
            origin,
            CHANNEL,
        )

    async def delete(self, cam_id: str) -> bool:
        """Remove a camera; False when there was none."""
        row = await self._db.fetchrow(
            "WITH gone AS (DELETE FROM camera_bridge_cameras WHERE id = $1 RETURNING id)"
            " SELECT pg_notify($2, 'camera:' || id) FROM gone",
            cam_id,
            CHANNEL,
        )
        return row is not None

    async def set_switch(self, cam_id: str, switch: str, on: bool, *, fence: Lease | None = None) -> bool:
        """Set ``switch`` (``enabled`` or ``detection``) of a camera and NOTIFY.

        With ``fence``, the write applies only while that lease still holds (raises FencedOut
        otherwise). Returns False when there is no such camera. Raises ValueError for another
        switch name.
        """
        if switch not in ("enabled", "detection"):
            raise ValueError(f"unknown switch {switch!r}")
        fenced = (
            ""
            if fence is None
            else " AND EXISTS (SELECT 1 FROM camera_bridge_leases l WHERE l.camera = $1"
            " AND l.owner = $4 AND l.epoch = $5 AND l.expires_at > now())"
        )
        args: list[Any] = [cam_id, on, CHANNEL]
        if fence is not None:
            args += [fence.owner, fence.epoch]
        row = await self._db.fetchrow(
            f"WITH up AS (UPDATE camera_bridge_cameras SET {switch} = $2, updated_at = now()"
            f" WHERE id = $1{fenced} RETURNING id) SELECT pg_notify($3, 'camera:' || id) FROM up",
            *args,
        )
        if row is not None:
            return True
        if fence is not None and await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM camera_bridge_cameras WHERE id = $1)", cam_id
        ):
            raise FencedOut(cam_id, fence.epoch)
        return False

    async def set_runtime(self, cam_id: str, data: dict[str, Any], fence: Lease) -> bool:
        """Write what the owner says of a camera (``state``, ``stream_urls``, ...; ``owner``
        and ``epoch`` are added from ``fence``), only while ``fence`` still holds its lease. No
        NOTIFY (the others read it at their next balance). Returns whether it was written."""
        payload = {**data, "owner": fence.owner, "epoch": fence.epoch}
        row = await self._db.fetchrow(
            "UPDATE camera_bridge_cameras SET runtime = $2::jsonb WHERE id = $1 AND EXISTS"
            " (SELECT 1 FROM camera_bridge_leases l WHERE l.camera = $1 AND l.owner = $3 AND l.epoch = $4"
            " AND l.expires_at > now()) RETURNING id",
            cam_id,
            json.dumps(payload),
            fence.owner,
            fence.epoch,
        )
        return row is not None

    async def runtimes(self) -> dict[str, dict[str, Any]]:
        """Per camera: ``owner`` and ``epoch`` of its live lease (None when no bridge holds
        it), and the ``state`` and ``stream_urls`` its owner last wrote under that lease (None
        and ``{}`` when that owner has written nothing yet)."""
        rows = await self._db.fetch(
            "SELECT c.id, c.runtime, l.owner, l.epoch FROM camera_bridge_cameras c"
            " LEFT JOIN camera_bridge_leases l ON l.camera = c.id AND l.expires_at > now()"
        )
        found: dict[str, dict[str, Any]] = {}
        for r in rows:
            said = json.loads(r["runtime"]) if r["runtime"] else {}
            current = said.get("owner") == r["owner"] and said.get("epoch") == r["epoch"] and r["owner"] is not None
            found[r["id"]] = {
                "owner": r["owner"],
                "epoch": r["epoch"],
                "state": said.get("state") if current else None,
                "stream_urls": said.get("stream_urls") or {} if current else {},
            }
        return found
