"""Durable file writes: the one atomic-write routine every part of the bridge uses.

A reader (or a crash at any moment) sees either the old file or the whole new one, never a
partial write: the data goes to a temporary file in the same directory, is fsynced, renamed
over the final name, and the directory is fsynced so the rename itself survives a power cut.
Blocking: call from a thread.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """fsync a directory, so a rename or unlink in it is durable. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None, temp: Path | None = None) -> None:
    """Write ``data`` (bytes) to ``path`` atomically, creating its directory. ``mode``: the
    file's permission bits (e.g. 0o600 for a file with credentials), else the process default.
    ``temp``: the temporary file's path (same directory), for callers that clean up leftovers of
    a crash by name; else a unique hidden name. Raises OSError (the temporary file removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if temp is None:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    else:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)
