"""Frames saved for retraining: the detection frame as JPEG plus a JSON sidecar of its
detections, in dated folders (``<dir>/<YYYY-MM-DD>/<camera>-<HHMMSS.mmm>.jpg|.json``), under a
size cap (the oldest files are deleted first). Files are written atomically (temporary file,
fsync, rename). Blocking: called from the detection thread.

Cameras share a directory (``<data_dir>/captures`` by default): its size is kept by one
:class:`DirSize` per directory, whoever writes, so the cap holds for the directory as a whole
(the cap of the camera that just saved a frame is applied).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config.detect import CaptureConfig
from ..files import write_atomic

_LOGGER = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  #: seconds between two saved frames of one camera
JPEG_QUALITY = 90


class DirSize:
    """The size in bytes of the files under one capture directory, shared by every camera saving
    there (thread-safe: each camera's detection thread calls it). Blocking (file system)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._size: int | None = None  #: bytes; None until first counted

    def grow(self, added: int, cap: int) -> None:
        """Count ``added`` bytes just written; past ``cap`` bytes delete the oldest files (by
        mtime) until the directory is down to 90 % of it, and empty day folders."""
        with self._lock:
            if self._size is None:
                self._size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
            else:
                self._size += added
            if self._size <= cap:
                return
            files = sorted((p for p in self.root.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime)
            for path in files:
                if self._size <= cap * 0.9:
                    break
                size = path.stat().st_size
                path.unlink(missing_ok=True)
                self._size -= size
            for folder in self.root.iterdir():
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


_DIRS: dict[str, DirSize] = {}
_DIRS_LOCK = threading.Lock()


def dir_size(root: Path) -> DirSize:
    """The one :class:`DirSize` of directory ``root`` in this process (by its absolute path)."""
    key = os.path.abspath(root)
    with _DIRS_LOCK:
        if key not in _DIRS:
            _DIRS[key] = DirSize(root)
        return _DIRS[key]


class TrainingCapture:
    """Saves one camera's frames with detections under ``root`` (``capture.dir``)."""

    def __init__(self, camera: str, config: CaptureConfig, root: Path) -> None:
        self._camera = camera
        self._config = config
        self.root = root
        self._last = float("-inf")
        self._dir = dir_size(root)
        self._warned = False
        self.saved = 0

    def offer(self, image: np.ndarray, detections: list[dict[str, Any]], frame_time: float) -> Path | None:
        """Save ``image`` (``HxWx3 uint8 BGR``) with ``detections`` (JSON-able, relative boxes)
        when one scores at least ``min_score`` and the last save is ``MIN_INTERVAL`` s old;
        returns the JPEG's path, or None. Disk errors are logged (once), never raised."""
        import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

        if not self._config.enabled or frame_time - self._last < MIN_INTERVAL:
            return None
        if not any(d["score"] >= self._config.min_score for d in detections):
            return None
        self._last = frame_time
        stamp = time.localtime(frame_time)
        folder = self.root / time.strftime("%Y-%m-%d", stamp)
        name = f"{self._camera}-{time.strftime('%H%M%S', stamp)}.{int(frame_time * 1000) % 1000:03d}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise OSError("JPEG encode failed")
            sidecar = json.dumps(
                {
                    "camera": self._camera,
                    "time": frame_time,
                    "width": image.shape[1],
                    "height": image.shape[0],
                    "detections": detections,
                },
                indent=1,
            ).encode()
            write_atomic(folder / f"{name}.jpg", jpeg.tobytes())
            write_atomic(folder / f"{name}.json", sidecar)
            self._grow(len(jpeg) + len(sidecar))
        except OSError as err:
            _LOGGER.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "camera %s: cannot save a capture in %s: %s",
                self._camera,
                folder,
                err,
            )
            self._warned = True
            return None
        self._warned = False
        self.saved += 1
        return folder / f"{name}.jpg"

    def _grow(self, added: int) -> None:
        self._dir.grow(added, int(self._config.max_size_mb * 1024 * 1024))
