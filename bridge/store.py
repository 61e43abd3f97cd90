"""SQLite state store (stdlib sqlite3, WAL): cameras registered through the API, MediaMTX paths
the bridge owns, and the per-camera recording and detection switches.

The schema is versioned with ``PRAGMA user_version`` and upgraded by the ordered ``MIGRATIONS``
at open; each migration runs in one transaction, so a crash leaves the previous version intact.
Calls are short and blocking: the registry runs them in a thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import BridgeError

T = TypeVar("T")


class StoreError(BridgeError):
    """Raised when the state database cannot be opened, migrated or written."""


#: migration N brings the schema from version N to N+1
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cameras (
        id TEXT PRIMARY KEY,
        config TEXT NOT NULL,          -- JSON, the camera's options (secrets included)
        created_at REAL NOT NULL,      -- seconds since the epoch
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE mediamtx_paths (   -- MediaMTX paths the bridge created (it deletes only those)
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    CREATE TABLE recording (        -- per-camera recording switch (MediaMTX record on/off)
        camera TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # timelapses (bridge/timelapse/archive.py); times in seconds since the epoch (UTC)
    """
    CREATE TABLE timelapses (
        id TEXT PRIMARY KEY,
        config TEXT,                   -- JSON options of a timelapse made through the API, else NULL
        origin TEXT NOT NULL,          -- yaml or api
        state TEXT NOT NULL,           -- created, running, paused, stopped, completed
        started_at REAL,               -- first start (end_after counts from here)
        last_capture_at REAL,          -- last kept frame
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE timelapse_frames (
        id INTEGER PRIMARY KEY,
        timelapse_id TEXT NOT NULL,
        path TEXT NOT NULL,            -- relative to {data_dir}/timelapses
        captured_at REAL NOT NULL,
        size INTEGER NOT NULL,         -- bytes
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        score REAL NOT NULL,           -- quality 0..1
        flags TEXT NOT NULL            -- comma-separated checks that were not perfect
    );
    CREATE INDEX timelapse_frames_by_time ON timelapse_frames (timelapse_id, captured_at);
    CREATE TABLE timelapse_discards (
        timelapse_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (timelapse_id, reason)
    );
    CREATE TABLE timelapse_videos (
        id INTEGER PRIMARY KEY,
        timelapse_id TEXT NOT NULL,
        path TEXT NOT NULL,            -- relative to {data_dir}/timelapses
        thumbnail TEXT,
        created_at REAL NOT NULL,
        frames INTEGER NOT NULL,
        duration REAL NOT NULL,        -- seconds
        size INTEGER NOT NULL,         -- bytes
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        fps INTEGER NOT NULL,
        first_at REAL NOT NULL,        -- capture time of the first and last frame
        last_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE detection (        -- per-camera detection switch ({base}/{camera}/detect/set)
        camera TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE camera_enabled (   -- per-camera on/off switch ({base}/{camera}/enabled/set)
        camera TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
)


class Store:
    """The bridge's SQLite database at ``path`` (created with its directory when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (sqlite3.Error, OSError) as err:
            raise StoreError(f"cannot open state database {path}: {err}") from err

    @property
    def version(self) -> int:
        """The schema version (number of migrations applied)."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this bridge "
                f"({len(MIGRATIONS)}): refusing to touch it"
            )
        for number in range(current, len(MIGRATIONS)):
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(MIGRATIONS[number]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number + 1}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def cameras(self) -> dict[str, dict[str, Any]]:
        """Registered cameras: id -> options."""
        with self._lock:
            rows = self._db.execute("SELECT id, config FROM cameras ORDER BY created_at, id").fetchall()
        return {cam_id: json.loads(config) for cam_id, config in rows}

    def put_camera(self, cam_id: str, config: dict[str, Any]) -> None:
        """Insert or replace a camera's options. Raises :class:`StoreError`."""
        now = time.time()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO cameras (id, config, created_at, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
                    (cam_id, json.dumps(config), now, now),
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot save camera {cam_id}: {err}") from err

    def delete_camera(self, cam_id: str) -> bool:
        """Delete a camera and its detection and on/off switches; True when it existed. Raises
        :class:`StoreError`."""
        try:
            with self._lock:
                self._db.execute("DELETE FROM detection WHERE camera = ?", (cam_id,))
                self._db.execute("DELETE FROM camera_enabled WHERE camera = ?", (cam_id,))
                cur = self._db.execute("DELETE FROM cameras WHERE id = ?", (cam_id,))
        except sqlite3.Error as err:
            raise StoreError(f"cannot delete camera {cam_id}: {err}") from err
        return cur.rowcount > 0

    def owned_paths(self) -> set[str]:
        """Names of the MediaMTX paths the bridge created."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT name FROM mediamtx_paths")}

    def set_owned_paths(self, names: set[str]) -> None:
        """Replace the set of MediaMTX paths the bridge created. Raises :class:`StoreError`."""
        now = time.time()
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    marks = ",".join("?" * len(names))
                    self._db.execute(f"DELETE FROM mediamtx_paths WHERE name NOT IN ({marks})", tuple(names))
                    self._db.executemany(
                        "INSERT OR IGNORE INTO mediamtx_paths (name, created_at) VALUES (?, ?)",
                        [(n, now) for n in names],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as err:
            raise StoreError(f"cannot save MediaMTX paths: {err}") from err

    def recording(self) -> dict[str, bool]:
        """Per-camera recording switches set so far: camera id -> on."""
        with self._lock:
            return {cam: bool(on) for cam, on in self._db.execute("SELECT camera, enabled FROM recording")}

    def set_recording(self, cam_id: str, enabled: bool) -> None:
        """Save a camera's recording switch. Raises :class:`StoreError`."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO recording (camera, enabled, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(camera) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                    (cam_id, int(enabled), time.time()),
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot save the recording switch of {cam_id}: {err}") from err

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction (committed, or rolled back if it raises)
        and return its result. Blocking: call it in a thread. Raises :class:`StoreError`."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
        except sqlite3.Error as err:
            raise StoreError(f"state database: {err}") from err

    def detection(self) -> dict[str, bool]:
        """Per-camera detection switches set so far: camera id -> on."""
        with self._lock:
            return {cam: bool(on) for cam, on in self._db.execute("SELECT camera, enabled FROM detection")}

    def set_detection(self, cam_id: str, enabled: bool) -> None:
        """Save a camera's detection switch. Raises :class:`StoreError`."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO detection (camera, enabled, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(camera) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                    (cam_id, int(enabled), time.time()),
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot save the detection switch of {cam_id}: {err}") from err

    def camera_switches(self) -> dict[str, bool]:
        """Per-camera on/off switches set so far: camera id -> on (a camera not listed is on)."""
        with self._lock:
            return {cam: bool(on) for cam, on in self._db.execute("SELECT camera, enabled FROM camera_enabled")}

    def set_camera_enabled(self, cam_id: str, enabled: bool) -> None:
        """Save a camera's on/off switch. Raises :class:`StoreError`."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO camera_enabled (camera, enabled, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(camera) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                    (cam_id, int(enabled), time.time()),
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot save the on/off switch of {cam_id}: {err}") from err

    def healthy(self) -> bool:
        """Whether the database answers a query."""
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, comments dropped (no ';' or '--' inside
    literals in our migrations). Not ``executescript``: it would commit the open transaction."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]
