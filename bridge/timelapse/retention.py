"""Retention of timelapse frames and videos, and the disk guard.

Frames are deleted when older than ``keep_days`` and, with ``delete_frames_after_render``, once a
render that used them succeeded; only the newest ``keep_videos`` videos are kept. The disk guard
compares the free space of the data directory with ``timelapse.min_free_mb``: below it, capture
pauses (state ``error``) until space returns. Blocking functions: call them in a thread.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..config.timelapse import Settings
from .archive import TimelapseArchive

MIB = 1024 * 1024
DAY = 86400.0  #: seconds

#: how the free space of a directory is read (bytes); replaceable in tests to simulate a full disk
FreeSpace = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def low_space(path: Path, min_free_mb: int, free: FreeSpace = free_bytes) -> str | None:
    """The disk guard's reason when ``path`` has less than ``min_free_mb`` MiB free, else None."""
    if min_free_mb <= 0:
        return None
    available = free(path)
    if available >= min_free_mb * MIB:
        return None
    return f"low disk space: {available // MIB} MiB free on the data directory, timelapse.min_free_mb is {min_free_mb}"


def apply(archive: TimelapseArchive, tl_id: str, settings: Settings, now: float) -> dict[str, int]:
    """Delete frames older than ``keep_days`` and videos beyond ``keep_videos`` (oldest first).
    Returns what was deleted (``frames``, ``videos``)."""
    deleted = {"frames": 0, "videos": 0}
    if settings.keep_days is not None:
        deleted["frames"] = archive.delete_frames(tl_id, now - settings.keep_days * DAY)
    if settings.keep_videos is not None:
        for video in archive.videos(tl_id)[settings.keep_videos :]:
            archive.delete_video(video)
            deleted["videos"] += 1
    return deleted


def after_render(archive: TimelapseArchive, tl_id: str, settings: Settings, last_at: float) -> int:
    """With ``delete_frames_after_render``, delete the frames up to the rendered video's last
    one (captured at ``last_at``); returns how many."""
    if not settings.delete_frames_after_render:
        return 0
    return archive.delete_frames(tl_id, last_at)
