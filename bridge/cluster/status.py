"""What ``camera-bridge cluster status`` shows: members, leases and cameras per member, read
from the cluster's PostgreSQL database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import lease
from .cameras import SCHEMA as CAMERAS_SCHEMA


@dataclass
class MemberStatus:
    """One member: ``age`` is seconds since its last heartbeat; ``cameras`` the ids it leases."""

    name: str
    age: float
    live: bool
    cameras: list[str] = field(default_factory=list)


@dataclass
class ClusterStatus:
    """Members (live or not), every unexpired lease and the cameras nobody holds."""

    members: list[MemberStatus]
    leases: dict[str, tuple[str, int]]
    unowned: list[str]

    def as_text(self) -> str:
        """A table for people."""
        lines = ["member           heartbeat  cameras"]
        for m in self.members:
            state = f"{m.age:5.1f} s ago" + ("" if m.live else " (gone)")
            lines.append(f"{m.name:<16} {state:<10} {len(m.cameras)}: {', '.join(m.cameras)}")
        lines.append(f"unowned: {', '.join(self.unowned) or '-'}")
        return "\n".join(lines)


async def read(conn: Any, ttl: float) -> ClusterStatus:
    """The cluster's status through the asyncpg connection ``conn``; members whose heartbeat is
    older than ``ttl`` seconds are reported as gone."""
    await conn.execute(lease.SCHEMA + CAMERAS_SCHEMA)
    rows = await conn.fetch(
        "SELECT name, EXTRACT(EPOCH FROM now() - heartbeat_at) AS age FROM camera_bridge_members ORDER BY name"
    )
    held = await lease.owners(conn)
    members = [
        MemberStatus(
            r["name"], float(r["age"]), float(r["age"]) < ttl, sorted(c for c, (o, _) in held.items() if o == r["name"])
        )
        for r in rows
    ]
    cameras = [r["id"] for r in await conn.fetch("SELECT id FROM camera_bridge_cameras ORDER BY id")]
    return ClusterStatus(members, held, [c for c in cameras if c not in held])
