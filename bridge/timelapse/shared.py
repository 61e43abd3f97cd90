"""The timelapse archive of a clustered bridge: the rows in the cluster's PostgreSQL database
(tables below, created with the cluster schema by :class:`~bridge.cluster.member.ClusterMember`),
the files under this bridge's timelapse root (``timelapse.storage``, else
``{data_dir}/timelapses``).

Same interface and write order as :class:`~.archive.TimelapseArchive` (file first, then its
row; rows deleted before files), so the manager, recorder, renderer and retention do not know
which one they use. What differs:

* every bridge of the cluster sees the same timelapse rows: state (``running``, ``paused``,
  ...), start and last capture; the bridge that owns the camera captures, so when the camera
  moves the new owner goes on with the same timelapse;
* a frame row records the ``owner`` (member name) that wrote its file and its ``seq``, the
  frame's number in the timelapse (1, 2, ...; taken from the timelapse row in the statement that
  inserts the frame, never reused, so it goes on across owners and deletions);
* a frame is inserted only while this bridge holds the lease of the timelapse's camera (fenced
  in the same statement, like every write of a camera's owner); refused, its file is removed and
  :class:`~.archive.StorageError` raised;
* without a shared ``storage`` directory a frame's file is on its owner's disk only: a render
  uses the frames whose files this bridge can read (``readable``) and says how many it lacks;
* :meth:`reconcile` never drops rows written by another bridge, and only removes temp files
  and files without rows older than :data:`STALE` (another bridge may be writing them).

Methods block (they run the driver's coroutines on the event loop through ``run`` and wait):
call them in a thread, as the manager does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from .archive import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    FrameRow,
    StorageError,
    TimelapseArchive,
    VideoRow,
    atomic_write,
    frame_name,
)

_LOGGER = logging.getLogger(__name__)

STALE = 600.0  #: seconds; a temp file or a file without a row younger than this may be in the making

SCHEMA = """
CREATE TABLE IF NOT EXISTS camera_bridge_timelapses (
    id TEXT PRIMARY KEY,
    config JSONB,                    -- an API timelapse's options; NULL for a YAML one
    origin TEXT NOT NULL,            -- yaml or api
    state TEXT NOT NULL,             -- created, running, paused, stopped, completed
    started_at DOUBLE PRECISION,     -- epoch seconds
    last_capture_at DOUBLE PRECISION,
    next_seq BIGINT NOT NULL DEFAULT 0,  -- the number of the last frame taken
    updated_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS camera_bridge_timelapse_frames (
    id BIGSERIAL PRIMARY KEY,
    timelapse_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    path TEXT NOT NULL,              -- relative to the owner's timelapse root
    captured_at DOUBLE PRECISION NOT NULL,
    size BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    flags TEXT NOT NULL,
    owner TEXT NOT NULL,             -- the member that captured it (its disk holds the file)
    epoch BIGINT NOT NULL,           -- of the camera's lease it was captured under
    UNIQUE (timelapse_id, seq)
);
CREATE INDEX IF NOT EXISTS camera_bridge_timelapse_frames_time
    ON camera_bridge_timelapse_frames (timelapse_id, captured_at);
CREATE TABLE IF NOT EXISTS camera_bridge_timelapse_videos (
    id BIGSERIAL PRIMARY KEY,
    timelapse_id TEXT NOT NULL,
    path TEXT NOT NULL,
    thumbnail TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    frames INTEGER NOT NULL,
    duration DOUBLE PRECISION NOT NULL,
    size BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    fps INTEGER NOT NULL,
    first_at DOUBLE PRECISION NOT NULL,
    last_at DOUBLE PRECISION NOT NULL,
    owner TEXT NOT NULL,             -- the member that rendered it (its disk holds the file)
    missing INTEGER NOT NULL DEFAULT 0  -- frames left out: their files were not readable there
);
CREATE TABLE IF NOT EXISTS camera_bridge_timelapse_discards (
    timelapse_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (timelapse_id, reason)
);
"""

_FRAME_COLS = "id, timelapse_id, path, captured_at, size, width, height, score, flags, seq, owner"
_VIDEO_COLS = (
    "id, timelapse_id, path, thumbnail, created_at, frames, duration, size, width, height, fps, first_at, last_at"
)

#: runs a coroutine on the bridge's event loop from a worker thread and returns its result
Run = Callable[[Coroutine[Any, Any, Any]], Any]


def _frame(r: Any) -> FrameRow:
    return FrameRow(*(r[c.strip()] for c in _FRAME_COLS.split(",")))


def _video(r: Any) -> VideoRow:
    return VideoRow(*(r[c.strip()] for c in _VIDEO_COLS.split(",")))


class SharedTimelapseArchive(TimelapseArchive):
    """Timelapse rows in the cluster database, files under ``root``.

    ``pool()`` returns the cluster's asyncpg pool; ``run`` runs a coroutine on its event loop
    (from a worker thread); ``member`` is this bridge's member name; ``lease_of(tl_id)`` the
    ``(camera, epoch)`` of the lease this bridge holds for the timelapse's camera, None when it
    holds none; ``shared_storage``: ``root`` is the same directory on every bridge.
    """

    def __init__(
        self,
        pool: Callable[[], Any],
        run: Run,
        root: Path,
        member: str,
        lease_of: Callable[[str], tuple[str, int] | None],
        *,
        shared_storage: bool = False,
    ) -> None:
        self.root = root
        self._pool = pool
        self._run = run
        self.member = member
        self._lease_of = lease_of
        self.shared_storage = shared_storage

    def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(self._run(self._pool().fetch(sql, *args)))

    def _fetchrow(self, sql: str, *args: Any) -> Any:
        return self._run(self._pool().fetchrow(sql, *args))

    def _execute(self, sql: str, *args: Any) -> None:
        self._run(self._pool().execute(sql, *args))

    # -- timelapses ------------------------------------------------------------------------

    def timelapses(self) -> dict[str, dict[str, Any]]:
        """Every timelapse row of the cluster: id -> {config, origin, state, started_at,
        last_capture_at}."""
        rows = self._fetch(
            "SELECT id, config, origin, state, started_at, last_capture_at FROM camera_bridge_timelapses"
        )
        return {
            r["id"]: {
                "config": json.loads(r["config"]) if r["config"] else None,
                "origin": r["origin"],
                "state": r["state"],
                "started_at": r["started_at"],
                "last_capture_at": r["last_capture_at"],
            }
            for r in rows
        }

    def save(
        self,
        tl_id: str,
        *,
        origin: str,
        state: str,
        config: dict[str, Any] | None = None,
        started_at: float | None = None,
        last_capture_at: float | None = None,
    ) -> None:
        """Insert or update a timelapse row (``last_capture_at`` never moves back: another
        bridge may have captured since this one last read it)."""
        self._execute(
            "INSERT INTO camera_bridge_timelapses (id, config, origin, state, started_at, last_capture_at, updated_by)"
            " VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config,"
            " origin = EXCLUDED.origin, state = EXCLUDED.state, started_at = EXCLUDED.started_at,"
            " last_capture_at = GREATEST(camera_bridge_timelapses.last_capture_at, EXCLUDED.last_capture_at),"
            " updated_by = EXCLUDED.updated_by, updated_at = now()",
            tl_id,
            json.dumps(config) if config is not None else None,
            origin,
            state,
            started_at,
            last_capture_at,
            self.member,
        )

    def forget(self, tl_id: str) -> None:
        """Delete a timelapse's rows (every bridge's), then the files under this bridge's root."""

        async def work() -> None:
            async with self._pool().acquire() as conn, conn.transaction():
                for table in ("frames", "videos", "discards"):
                    await conn.execute(f"DELETE FROM camera_bridge_timelapse_{table} WHERE timelapse_id = $1", tl_id)
                await conn.execute("DELETE FROM camera_bridge_timelapses WHERE id = $1", tl_id)

        self._run(work())
        self._remove_folder(tl_id)

    def _remove_folder(self, tl_id: str) -> None:
        folder = self.root / tl_id
        if folder.is_dir():
            for item in sorted(folder.rglob("*"), reverse=True):
                with contextlib.suppress(OSError):
                    item.rmdir() if item.is_dir() else item.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()

    # -- frames ----------------------------------------------------------------------------

    def add_frame(
        self, tl_id: str, jpeg: bytes, captured_at: float, width: int, height: int, score: float, flags: tuple[str, ...]
    ) -> FrameRow:
        """Store a kept frame: the file atomically, then its row with the next frame number,
        only while this bridge holds the lease of the timelapse's camera. Raises
        :class:`StorageError` (also when the lease is not held: the file is removed again)."""
        lease = self._lease_of(tl_id)
        if lease is None:
            raise StorageError(f"timelapse {tl_id}: this bridge does not hold its camera's lease")
        camera, epoch = lease
        name = frame_name(captured_at)
        relative = f"{tl_id}/{name}"
        suffix = 1
        while self.path(relative).exists():  # two frames in one second (a restart, a hand-over)
            relative = f"{tl_id}/{name[:-4]}-{suffix}.jpg"
            suffix += 1
        atomic_write(self.path(relative), jpeg)
        try:
            row = self._fetchrow(
                "WITH fence AS (SELECT 1 FROM camera_bridge_leases WHERE camera = $10 AND owner = $9 AND epoch = $11"
                " AND expires_at > now()), n AS (UPDATE camera_bridge_timelapses SET next_seq = next_seq + 1,"
                " last_capture_at = GREATEST(last_capture_at, $3), updated_at = now()"
                " WHERE id = $1 AND EXISTS (SELECT 1 FROM fence) RETURNING next_seq)"
                " INSERT INTO camera_bridge_timelapse_frames (timelapse_id, seq, path, captured_at, size, width,"
                " height, score, flags, owner, epoch) SELECT $1, n.next_seq, $2, $3, $4, $5, $6, $7, $8, $9, $11"
                f" FROM n RETURNING {_FRAME_COLS}",
                tl_id,
                relative,
                captured_at,
                len(jpeg),
                width,
                height,
                score,
                ",".join(flags),
                self.member,
                camera,
                epoch,
            )
        except Exception as err:  # the database away: the file without a row goes
            self._unlink(relative)
            raise StorageError(f"cannot record the frame in the cluster database: {err}") from err
        if row is None:
            self._unlink(relative)
            raise StorageError(f"timelapse {tl_id}: the lease of camera {camera} (epoch {epoch}) is no longer held")
        return _frame(row)

    def _unlink(self, relative: str) -> None:
        with contextlib.suppress(OSError):
            self.path(relative).unlink()

    def add_discard(self, tl_id: str, reason: str) -> None:
        """Count a discarded frame by reason (the cluster's count)."""
        self._execute(
            "INSERT INTO camera_bridge_timelapse_discards (timelapse_id, reason, count) VALUES ($1, $2, 1)"
            " ON CONFLICT (timelapse_id, reason) DO UPDATE SET count = camera_bridge_timelapse_discards.count + 1",
            tl_id,
            reason,
        )

    def discards(self, tl_id: str) -> dict[str, int]:
        """Discarded frames by reason."""
        rows = self._fetch("SELECT reason, count FROM camera_bridge_timelapse_discards WHERE timelapse_id = $1", tl_id)
        return {r["reason"]: int(r["count"]) for r in rows}

    def frame_stats(self, tl_id: str) -> tuple[int, int, float | None]:
        """(kept frames of every bridge, their bytes, capture time of the newest)."""
        row = self._fetchrow(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b, MAX(captured_at) AS t"
            " FROM camera_bridge_timelapse_frames WHERE timelapse_id = $1",
            tl_id,
        )
        return int(row["n"]), int(row["b"]), row["t"]

    def frames(
        self, tl_id: str, offset: int = 0, limit: int | None = None, until: float | None = None
    ) -> list[FrameRow]:
        """Frames of every bridge, oldest first, paged; ``until``: captured at or before it."""
        rows = self._fetch(
            f"SELECT {_FRAME_COLS} FROM camera_bridge_timelapse_frames WHERE timelapse_id = $1"
            " AND ($2::float8 IS NULL OR captured_at <= $2) ORDER BY captured_at, seq LIMIT $3 OFFSET $4",
            tl_id,
            until,
            limit,
            offset,
        )
        return [_frame(r) for r in rows]

    def frame(self, tl_id: str, frame_id: int) -> FrameRow | None:
        """One frame of this timelapse by id."""
        row = self._fetchrow(
            f"SELECT {_FRAME_COLS} FROM camera_bridge_timelapse_frames WHERE timelapse_id = $1 AND id = $2",
            tl_id,
            frame_id,
        )
        return _frame(row) if row else None

    def latest_frame(self, tl_id: str) -> FrameRow | None:
        row = self._fetchrow(
            f"SELECT {_FRAME_COLS} FROM camera_bridge_timelapse_frames WHERE timelapse_id = $1"
            " ORDER BY captured_at DESC, seq DESC LIMIT 1",
            tl_id,
        )
        return _frame(row) if row else None

    def delete_frames(self, tl_id: str, until: float) -> int:
        """Delete frames captured at or before ``until``: the rows of every bridge, then the
        files this bridge can reach (another bridge's files without a shared storage directory
        go at its next start, as files without rows). Returns how many rows."""
        rows = self._fetch(
            "DELETE FROM camera_bridge_timelapse_frames WHERE timelapse_id = $1 AND captured_at <= $2 RETURNING path",
            tl_id,
            until,
        )
        paths = [r["path"] for r in rows]
        for relative in paths:
            self._unlink(relative)
        for folder in {self.path(relative).parent for relative in paths}:
            with contextlib.suppress(OSError):
                folder.rmdir()
        return len(paths)

    # -- videos ----------------------------------------------------------------------------

    def add_video(self, video: dict[str, Any]) -> VideoRow:
        """Insert the row of a committed video (keys: the :class:`VideoRow` fields but id;
        ``missing``: frames left out, default 0), rendered by this bridge."""
        cols = [c.strip() for c in _VIDEO_COLS.split(",")][1:]
        values = [video[c] for c in cols]
        marks = ", ".join(f"${i}" for i in range(1, len(cols) + 3))
        row = self._fetchrow(
            f"INSERT INTO camera_bridge_timelapse_videos ({', '.join(cols)}, owner, missing) VALUES ({marks})"
            f" RETURNING {_VIDEO_COLS}",
            *values,
            self.member,
            int(video.get("missing", 0)),
        )
        return _video(row)

    def videos(self, tl_id: str) -> list[VideoRow]:
        """Videos of every bridge, newest first."""
        rows = self._fetch(
            f"SELECT {_VIDEO_COLS} FROM camera_bridge_timelapse_videos WHERE timelapse_id = $1"
            " ORDER BY created_at DESC, id DESC",
            tl_id,
        )
        return [_video(r) for r in rows]

    def video(self, tl_id: str, video_id: int) -> VideoRow | None:
        row = self._fetchrow(
            f"SELECT {_VIDEO_COLS} FROM camera_bridge_timelapse_videos WHERE timelapse_id = $1 AND id = $2",
            tl_id,
            video_id,
        )
        return _video(row) if row else None

    def video_owner(self, tl_id: str, video_id: int) -> str | None:
        """The member that rendered a video (whose disk holds its file without a shared
        ``storage``); None when the cluster has no such video."""
        row = self._fetchrow(
            "SELECT owner FROM camera_bridge_timelapse_videos WHERE timelapse_id = $1 AND id = $2", tl_id, video_id
        )
        return str(row["owner"]) if row else None

    def delete_video(self, video: VideoRow) -> None:
        """Delete a video's row, then its files (when this bridge reaches them)."""
        self._execute("DELETE FROM camera_bridge_timelapse_videos WHERE id = $1", video.id)
        for relative in (video.path, video.thumbnail):
            if relative:
                self._unlink(relative)

    # -- recovery --------------------------------------------------------------------------

    def reconcile(self) -> dict[str, int]:
        """At start: remove temp files and frame/video files no row of the cluster knows (both
        only when older than :data:`STALE`), drop rows *this* bridge wrote whose file is gone.
        Returns counts (``temp``, ``orphans``, ``missing``)."""
        known = {
            r["path"]
            for r in self._fetch(
                "SELECT path FROM camera_bridge_timelapse_frames UNION ALL SELECT path FROM"
                " camera_bridge_timelapse_videos UNION ALL SELECT thumbnail FROM camera_bridge_timelapse_videos"
                " WHERE thumbnail IS NOT NULL"
            )
        }
        counts = {"temp": 0, "orphans": 0, "missing": 0}
        old = time.time() - STALE
        if self.root.is_dir():
            for item in self.root.rglob("*"):
                try:
                    if not item.is_file() or item.stat().st_mtime > old:
                        continue
                except OSError:
                    continue
                relative = item.relative_to(self.root).as_posix()
                if item.name.startswith(TEMP_PREFIX) or item.name.endswith(TEMP_SUFFIX):
                    counts["temp"] += 1
                elif relative not in known and relative.count("/") >= 2 and item.suffix in (".jpg", ".mp4"):
                    counts["orphans"] += 1
                else:
                    continue
                with contextlib.suppress(OSError):
                    item.unlink()
        mine = self._fetch(
            "SELECT path FROM camera_bridge_timelapse_frames WHERE owner = $1", self.member
        ) + self._fetch("SELECT path FROM camera_bridge_timelapse_videos WHERE owner = $1", self.member)
        missing = [r["path"] for r in mine if not self.path(r["path"]).is_file()]
        if missing:
            self._execute(
                "DELETE FROM camera_bridge_timelapse_frames WHERE owner = $1 AND path = ANY($2::text[])",
                self.member,
                missing,
            )
            self._execute(
                "DELETE FROM camera_bridge_timelapse_videos WHERE owner = $1 AND path = ANY($2::text[])",
                self.member,
                missing,
            )
            counts["missing"] = len(missing)
        if any(counts.values()):
            _LOGGER.warning(
                "timelapses: %d stale temp file(s) and %d file(s) without a row removed, %d row(s) of this "
                "bridge without a file dropped",
                counts["temp"],
                counts["orphans"],
                counts["missing"],
            )
        return counts
