"""A timelapse archive (its frames and videos), crash-safe: files under
``{data_dir}/timelapses/{id}/`` and their rows in the bridge's SQLite store (WAL; tables from
``bridge/store.py`` MIGRATIONS).

Order of writes, so a crash (SIGKILL, power loss) never leaves a row without its complete file:

* a frame or video is written to a hidden temp file in its final directory, fsynced, renamed
  over its final name and the directory fsynced (:func:`atomic_write`); only then is its row
  inserted. A crash in between leaves at most a complete file without a row;
* deleting removes the row first, then the file;
* :meth:`TimelapseArchive.reconcile` (at start) removes temp files, files without rows and rows
  whose file is gone.

All methods block (file I/O, fsync, SQLite): call them in a thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BridgeError
from ..files import fsync_dir, write_atomic
from ..store import Store

_LOGGER = logging.getLogger(__name__)

TEMP_PREFIX = "."  #: temp files are hidden: ``.{name}.{pid}.tmp``
TEMP_SUFFIX = ".tmp"


class StorageError(BridgeError):
    """Raised when a timelapse file cannot be written (disk full, permissions)."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename,
    fsync of the directory. Readers (and a crash) see the old state or the whole new file.
    Raises :class:`StorageError`."""
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}{TEMP_SUFFIX}")  # found at start
    try:
        write_atomic(path, data, temp=tmp)
    except OSError as err:
        raise StorageError(f"cannot write {path.name}: {err.strerror or err}") from err


def commit_file(tmp: Path, path: Path) -> None:
    """Make a finished temp file (e.g. ffmpeg's output) durable under ``path``: fsync, rename,
    fsync of the directory."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def frame_name(captured_at: float) -> str:
    """``{YYYY-MM-DD}/{HHMMSS}.jpg`` of a capture time (UTC: no DST duplicates)."""
    moment = datetime.fromtimestamp(captured_at, UTC)
    return f"{moment:%Y-%m-%d}/{moment:%H%M%S}.jpg"


@dataclass(frozen=True)
class FrameRow:
    """A stored frame: ``path`` relative to the timelapses root, ``captured_at`` epoch seconds,
    ``size`` bytes, ``width``/``height`` pixels, ``score`` 0-1, ``flags`` imperfect checks; in
    cluster mode (:mod:`.shared`) also ``seq``, the frame's number in its timelapse, and
    ``owner``, the member that captured it (None in a bridge's own store)."""

    id: int
    timelapse_id: str
    path: str
    captured_at: float
    size: int
    width: int
    height: int
    score: float
    flags: str
    seq: int | None = None
    owner: str | None = None


@dataclass(frozen=True)
class VideoRow:
    """A rendered video: ``path``/``thumbnail`` relative to the root, ``duration`` seconds,
    ``size`` bytes, ``first_at``/``last_at`` capture times of its first and last frame."""

    id: int
    timelapse_id: str
    path: str
    thumbnail: str | None
    created_at: float
    frames: int
    duration: float
    size: int
    width: int
    height: int
    fps: int
    first_at: float
    last_at: float


_FRAME_COLS = "id, timelapse_id, path, captured_at, size, width, height, score, flags"
_VIDEO_COLS = (
    "id, timelapse_id, path, thumbnail, created_at, frames, duration, size, width, height, fps, first_at, last_at"
)


class TimelapseArchive:
    """Timelapse rows in ``store`` and files under ``root`` (``{data_dir}/timelapses``)."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def path(self, relative: str) -> Path:
        """The absolute path of a stored relative path (rows only hold paths this module made)."""
        return self.root / relative

    # -- timelapses ------------------------------------------------------------------------

    def timelapses(self) -> dict[str, dict[str, Any]]:
        """Every timelapse row: id -> {config (dict or None), origin, state, started_at,
        last_capture_at}."""
        rows = self.store.transaction(
            lambda db: db.execute(
                "SELECT id, config, origin, state, started_at, last_capture_at FROM timelapses"
            ).fetchall()
        )
        return {
            r[0]: {
                "config": json.loads(r[1]) if r[1] else None,
                "origin": r[2],
                "state": r[3],
                "started_at": r[4],
                "last_capture_at": r[5],
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
        """Insert or update a timelapse row."""
        now = time.time()
        self.store.transaction(
            lambda db: db.execute(
                "INSERT INTO timelapses (id, config, origin, state, started_at, last_capture_at, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "config = excluded.config, origin = excluded.origin, state = excluded.state, "
                "started_at = excluded.started_at, last_capture_at = excluded.last_capture_at, "
                "updated_at = excluded.updated_at",
                (
                    tl_id,
                    json.dumps(config) if config is not None else None,
                    origin,
                    state,
                    started_at,
                    last_capture_at,
                    now,
                    now,
                ),
            )
        )

    def forget(self, tl_id: str) -> None:
        """Delete a timelapse's rows, then its files."""

        def work(db: Any) -> None:
            for table in ("timelapse_frames", "timelapse_videos", "timelapse_discards"):
                db.execute(f"DELETE FROM {table} WHERE timelapse_id = ?", (tl_id,))
            db.execute("DELETE FROM timelapses WHERE id = ?", (tl_id,))

        self.store.transaction(work)
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
        """Store a kept frame: the file atomically, then its row. Raises :class:`StorageError`."""
        name = frame_name(captured_at)
        relative = f"{tl_id}/{name}"
        suffix = 1
        while self.path(relative).exists():  # two frames in one second (a restart)
            relative = f"{tl_id}/{name[:-4]}-{suffix}.jpg"
            suffix += 1
        atomic_write(self.path(relative), jpeg)
        values = (tl_id, relative, captured_at, len(jpeg), width, height, score, ",".join(flags))

        def work(db: Any) -> int:
            cur = db.execute(
                "INSERT INTO timelapse_frames (timelapse_id, path, captured_at, size, "
                "width, height, score, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            db.execute(
                "UPDATE timelapses SET last_capture_at = ?, updated_at = ? WHERE id = ?",
                (captured_at, time.time(), tl_id),
            )
            return int(cur.lastrowid)

        return FrameRow(self.store.transaction(work), *values)

    def add_discard(self, tl_id: str, reason: str) -> None:
        """Count a discarded frame by reason."""
        self.store.transaction(
            lambda db: db.execute(
                "INSERT INTO timelapse_discards (timelapse_id, reason, count) VALUES (?, ?, 1) "
                "ON CONFLICT(timelapse_id, reason) DO UPDATE SET count = count + 1",
                (tl_id, reason),
            )
        )

    def discards(self, tl_id: str) -> dict[str, int]:
        """Discarded frames by reason."""
        rows = self.store.transaction(
            lambda db: db.execute(
                "SELECT reason, count FROM timelapse_discards WHERE timelapse_id = ?", (tl_id,)
            ).fetchall()
        )
        return dict(rows)

    def frame_stats(self, tl_id: str) -> tuple[int, int, float | None]:
        """(kept frames, their bytes, capture time of the newest)."""
        row = self.store.transaction(
            lambda db: db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MAX(captured_at) FROM timelapse_frames "
                "WHERE timelapse_id = ?",
                (tl_id,),
            ).fetchone()
        )
        return int(row[0]), int(row[1]), row[2]

    def frames(
        self, tl_id: str, offset: int = 0, limit: int | None = None, until: float | None = None
    ) -> list[FrameRow]:
        """Frames oldest first, paged; ``until``: captured at or before this time only."""
        sql = f"SELECT {_FRAME_COLS} FROM timelapse_frames WHERE timelapse_id = ?"
        params: list[Any] = [tl_id]
        if until is not None:
            sql += " AND captured_at <= ?"
            params.append(until)
        sql += " ORDER BY captured_at, id LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        rows = self.store.transaction(lambda db: db.execute(sql, params).fetchall())
        return [FrameRow(*r) for r in rows]

    def readable(self, frames: list[FrameRow]) -> tuple[list[FrameRow], dict[str, int]]:
        """The frames whose files exist, and how many do not by their ``owner`` (a bridge's own
        store: its files are all here)."""
        found: list[FrameRow] = []
        missing: dict[str, int] = {}
        for frame in frames:
            if self.path(frame.path).is_file():
                found.append(frame)
            else:
                missing[frame.owner or "?"] = missing.get(frame.owner or "?", 0) + 1
        return found, missing

    def frame(self, tl_id: str, frame_id: int) -> FrameRow | None:
        """One frame of this timelapse by id."""
        row = self.store.transaction(
            lambda db: db.execute(
                f"SELECT {_FRAME_COLS} FROM timelapse_frames WHERE timelapse_id = ? AND id = ?", (tl_id, frame_id)
            ).fetchone()
        )
        return FrameRow(*row) if row else None

    def latest_frame(self, tl_id: str) -> FrameRow | None:
        row = self.store.transaction(
            lambda db: db.execute(
                f"SELECT {_FRAME_COLS} FROM timelapse_frames WHERE timelapse_id = ? "
                "ORDER BY captured_at DESC, id DESC LIMIT 1",
                (tl_id,),
            ).fetchone()
        )
        return FrameRow(*row) if row else None

    def delete_frames(self, tl_id: str, until: float) -> int:
        """Delete frames captured at or before ``until``: rows first, then files. Returns how
        many."""

        def work(db: Any) -> list[str]:
            paths = [
                r[0]
                for r in db.execute(
                    "SELECT path FROM timelapse_frames WHERE timelapse_id = ? AND captured_at <= ?", (tl_id, until)
                ).fetchall()
            ]
            db.execute("DELETE FROM timelapse_frames WHERE timelapse_id = ? AND captured_at <= ?", (tl_id, until))
            return paths

        paths = self.store.transaction(work)
        for relative in paths:
            with contextlib.suppress(FileNotFoundError):
                self.path(relative).unlink()
        for folder in {self.path(relative).parent for relative in paths}:
            with contextlib.suppress(OSError):  # a day folder emptied by this
                folder.rmdir()
        return len(paths)

    # -- videos ----------------------------------------------------------------------------

    def add_video(self, video: dict[str, Any]) -> VideoRow:
        """Insert the row of a committed video (keys: the :class:`VideoRow` fields but id)."""
        cols = [c.strip() for c in _VIDEO_COLS.split(",")][1:]
        values = tuple(video[c] for c in cols)
        new_id = self.store.transaction(
            lambda db: int(
                db.execute(  # type: ignore[arg-type]
                    f"INSERT INTO timelapse_videos ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values
                ).lastrowid
            )
        )  # an INSERT always has a lastrowid
        return VideoRow(new_id, *values)

    def videos(self, tl_id: str) -> list[VideoRow]:
        """Videos, newest first."""
        rows = self.store.transaction(
            lambda db: db.execute(
                f"SELECT {_VIDEO_COLS} FROM timelapse_videos WHERE timelapse_id = ? ORDER BY created_at DESC, id DESC",
                (tl_id,),
            ).fetchall()
        )
        return [VideoRow(*r) for r in rows]

    def video(self, tl_id: str, video_id: int) -> VideoRow | None:
        row = self.store.transaction(
            lambda db: db.execute(
                f"SELECT {_VIDEO_COLS} FROM timelapse_videos WHERE timelapse_id = ? AND id = ?", (tl_id, video_id)
            ).fetchone()
        )
        return VideoRow(*row) if row else None

    def video_owner(self, tl_id: str, video_id: int) -> str | None:
        """Cluster mode (:mod:`.shared`): the member that rendered a video; None here (a
        bridge's own store: its own disk)."""
        return None

    def delete_video(self, video: VideoRow) -> None:
        """Delete a video's row, then its files."""
        self.store.transaction(lambda db: db.execute("DELETE FROM timelapse_videos WHERE id = ?", (video.id,)))
        for relative in (video.path, video.thumbnail):
            if relative:
                with contextlib.suppress(FileNotFoundError):
                    self.path(relative).unlink()

    # -- recovery --------------------------------------------------------------------------

    def reconcile(self) -> dict[str, int]:
        """After a crash: remove temp files and files no row knows, drop rows whose file is
        missing. Returns counts (``temp``, ``orphans``, ``missing``)."""
        known = set(
            self.store.transaction(
                lambda db: [
                    r[0]
                    for r in db.execute(
                        "SELECT path FROM timelapse_frames UNION ALL SELECT path FROM timelapse_videos "
                        "UNION ALL SELECT thumbnail FROM timelapse_videos WHERE thumbnail IS NOT NULL"
                    ).fetchall()
                ]
            )
        )
        counts = {"temp": 0, "orphans": 0, "missing": 0}
        if self.root.is_dir():
            for item in self.root.rglob("*"):
                if not item.is_file():
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
        missing = [p for p in known if not self.path(p).is_file()]
        if missing:

            def work(db: Any) -> None:
                for relative in missing:
                    db.execute("DELETE FROM timelapse_frames WHERE path = ?", (relative,))
                    db.execute("DELETE FROM timelapse_videos WHERE path = ?", (relative,))
                    db.execute("UPDATE timelapse_videos SET thumbnail = NULL WHERE thumbnail = ?", (relative,))

            self.store.transaction(work)
            counts["missing"] = len(missing)
        if any(counts.values()):
            _LOGGER.warning(
                "timelapses: recovered after an unclean stop: %d temp file(s) and %d "
                "file(s) without a row removed, %d row(s) without a file dropped",
                counts["temp"],
                counts["orphans"],
                counts["missing"],
            )
        return counts
