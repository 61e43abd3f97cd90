"""Event clips: the camera's ring of recent compressed packets plus the packets until ``post``
seconds after the last open event ended, remuxed (stream copy) into one MP4 per clip.

A clip covers every event that overlaps it: the first event's id names the file
(``<dir>/<camera>/<event id>.mp4``) and the others are hard links to it. The ``end`` events of a
camera with clips are held until its clip is written, so the ``clip_url`` they carry answers when
they arrive. Retention (``max_age`` days, ``max_size_mb`` per camera) runs after each clip; the
disk guard skips a clip while the disk has less than ``min_free_mb`` free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..camera import Camera
from ..capture.ring import Recording, remux
from ..config.detect import ClipsConfig
from ..files import fsync_dir
from ..timelapse.retention import MIB, free_bytes

_LOGGER = logging.getLogger(__name__)

DAY = 86400.0
#: event ids (``<ms>-<n>``), checked before any file name is made of one
EVENT_ID = re.compile(r"^[0-9]{1,16}-[0-9]{1,12}$")


def clip_path(root: Path, cam_id: str, event_id: str) -> Path:
    """Where the clip of event ``event_id`` of camera ``cam_id`` is (may not exist)."""
    return root / cam_id / f"{event_id}.mp4"


def find_clip(root: Path, event_id: str) -> Path | None:
    """The clip of ``event_id`` under ``root`` (any camera), or None. Blocking."""
    if not EVENT_ID.match(event_id) or not root.is_dir():
        return None
    for cam_dir in root.iterdir():
        path = cam_dir / f"{event_id}.mp4"
        if path.is_file():
            return path
    return None


def list_clips(directory: Path) -> list[tuple[str, int, float]]:
    """``(event id, bytes, modification time)`` of each clip in a camera's clips directory
    (``<dir>/<camera>``: the time is when the clip was written, ``post`` seconds after its last
    event ended), newest first; empty when there is no such directory. Blocking."""
    if not directory.is_dir():
        return []
    out = []
    for path in directory.glob("*.mp4"):
        if not EVENT_ID.match(path.stem):
            continue  # a clip being written (``.<id>.mp4.<hex>.tmp.mp4``)
        try:
            st = path.stat()
        except FileNotFoundError:  # removed by retention meanwhile
            continue
        out.append((path.stem, st.st_size, st.st_mtime))
    return sorted(out, key=lambda clip: (clip[2], clip[0]), reverse=True)


def apply_retention(directory: Path, config: ClipsConfig, now: float) -> int:
    """Delete a camera's clips older than ``max_age`` days, then the oldest while their size is
    over ``max_size_mb`` (hard links of one clip counted once). Returns how many files went.
    Blocking."""
    if not directory.is_dir():
        return 0
    files = sorted((p for p in directory.glob("*.mp4")), key=lambda p: p.stat().st_mtime)
    deleted = 0
    for path in list(files):
        if now - path.stat().st_mtime > config.max_age * DAY:
            path.unlink(missing_ok=True)
            files.remove(path)
            deleted += 1
    sizes: dict[int, int] = {}
    for path in files:
        st = path.stat()
        sizes[st.st_ino] = st.st_size
    total = sum(sizes.values())
    for path in files:
        if total <= config.max_size_mb * MIB:
            break
        st = path.stat()
        path.unlink(missing_ok=True)
        deleted += 1
        if st.st_nlink <= 1:
            total -= st.st_size
    return deleted


class ClipRecorder:
    """Records the clips of one camera's events (event loop side; the packets come from the
    camera's :class:`~bridge.capture.ring.PacketRing`, filled by its capture thread).

    :meth:`route` is given every outgoing list of event payloads: a ``new`` event starts (or
    joins) a recording, an ``end`` event is held and handed to ``emit`` once the clip is written,
    with ``clip_url`` set (or without it when no clip could be written). Off or leaving:
    :meth:`close` writes what was recorded.
    """

    def __init__(
        self, camera: Camera, config: ClipsConfig, root: Path, emit: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self._camera = camera
        self.config = config
        self.dir = root / camera.id
        self._emit = emit
        # bytes of the ring and of one clip, at most (``event_snapshot.max_memory_mb``): a longer
        # clip is truncated (later packets are left out)
        _keyframes, ring_max, self._clip_max = camera.config.event_snapshot.ring_budget()
        self._ring = camera.keep_packets(config.pre, ring_max)
        self._rec: Recording | None = None
        self._ids: list[str] = []  # events of the recording, first one names the file
        self._open: set[str] = set()
        self._held: list[dict[str, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._warned = False
        self.written = 0
        self.skipped = 0

    @property
    def ring_bytes(self) -> int:
        """Compressed bytes held by the ring and the recording in progress."""
        return self._ring.bytes + self._ring.recording_bytes

    def route(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events to publish now; ``end`` events are held for the clip (their order kept)."""
        now_out = []
        for event in events:
            kind, event_id = event.get("type"), str(event.get("id"))
            if kind == "new":
                self._start(event_id)
                now_out.append(event)
            elif kind == "end" and event_id in self._open:
                self._open.discard(event_id)
                self._held.append(event)
                if not self._open:
                    self._timer = asyncio.get_running_loop().call_later(self.config.post, self._finish)
            else:
                now_out.append(event)
        return now_out

    def _start(self, event_id: str) -> None:
        if self._timer is not None:  # a new event within the post time: the same clip goes on
            self._timer.cancel()
            self._timer = None
        if self._rec is None:
            self._rec = self._ring.record(self._clip_max)
            self._ids = []
        self._ids.append(event_id)
        self._open.add(event_id)

    def _finish(self) -> None:
        self._timer = None
        rec, ids, held = self._rec, self._ids, self._held
        self._rec, self._ids, self._held = None, [], []
        if rec is None:
            if held:
                self._emit(held)
            return
        self._ring.stop(rec)
        task = asyncio.get_running_loop().create_task(
            self._write(rec, ids, held), name=f"camera[{self._camera.id}].clip"
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, rec: Recording, ids: list[str], held: list[dict[str, Any]]) -> None:
        written = False
        try:
            written = await asyncio.to_thread(self._write_files, rec, ids)
        except Exception as err:  # a failed clip must not stop detection; the ends still go out
            _LOGGER.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "camera %s: clip not written: %s",
                self._camera.id,
                err,
            )
            self._warned = True
        for event in held:
            if written:
                event["clip_url"] = f"/api/events/{event['id']}/clip.mp4"
        if held:
            self._emit(held)

    def _write_files(self, rec: Recording, ids: list[str]) -> bool:
        """Disk guard, remux into a temporary file, rename, hard links, retention (thread)."""
        cfg = self.config
        if cfg.min_free_mb and free_bytes(self.dir) < cfg.min_free_mb * MIB:
            self.skipped += 1
            raise OSError(f"low disk space: less than {cfg.min_free_mb} MiB free for clips (detect.clips.min_free_mb)")
        self.dir.mkdir(parents=True, exist_ok=True)
        path = clip_path(self.dir.parent, self._camera.id, ids[0])
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp.mp4")
        try:
            duration = remux(str(temp), rec)
            with open(temp, "rb+") as out:
                os.fsync(out.fileno())
            os.replace(temp, path)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        for other in ids[1:]:
            link = clip_path(self.dir.parent, self._camera.id, other)
            with contextlib.suppress(FileExistsError):
                os.link(path, link)
        fsync_dir(self.dir)
        self.written += 1
        span = rec.items[-1].monotonic - rec.items[0].monotonic if rec.items else 0.0
        _LOGGER.info(
            "camera %s: clip %s (%.1f s, %d packets over %.1f s, %d KiB%s%s)",
            self._camera.id,
            path.name,
            duration,
            len(rec.items),
            span,
            rec.bytes // 1024,
            ", truncated" if rec.truncated else "",
            ", cut: the stream reconnected" if rec.cut else "",
        )
        apply_retention(self.dir, cfg, time.time())
        return True

    async def close(self) -> None:
        """Write the clip in progress (its held ends go out) and wait for clips being written."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._rec is not None and not self._open:
            self._finish()
        elif self._rec is not None:
            self._ring.stop(self._rec)
            self._rec = None
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=10)
