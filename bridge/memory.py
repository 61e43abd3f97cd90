"""Process memory tuning: how glibc's allocator gives memory back.

A camera bridge allocates and frees big buffers all the time (a decoded 1080p picture is ~3 MiB,
its BGR copy ~6 MiB) from many threads. With glibc's defaults each thread may get its own malloc
arena (up to 8 per core) and the mmap threshold grows to 32 MiB after the first big free, so
freed pictures stay inside the arenas as resident free space: measured here with 8 cameras,
64 MiB of 109 MiB of arena memory was free and still counted in RSS.

:func:`tune_malloc` (called once at start, before the capture threads exist) caps the arenas at
2 and fixes the mmap threshold at 4 MiB, so every buffer of that size or more (a 1080p BGR copy)
is its own mapping, returned to the kernel when freed, while smaller ones (picture planes) are
reused from the arenas; and it raises the trim threshold to 64 MiB, so the arenas are not shrunk
after every picture only to fault the same pages in again for the next one. Measured with
``bench/snapshot_cpu.py`` (8 x 1080p): a 256 KiB mmap threshold gave 10 MiB less peak RSS but
cost ~0.08 CPU s per camera-minute in page faults, as did the default 128 KiB trim threshold;
these values keep the CPU figure and most of the memory saving. Source: glibc ``mallopt(3)`` (M_ARENA_MAX,
M_MMAP_THRESHOLD; a fixed threshold also turns off the dynamic adjustment), and the
``MALLOC_ARENA_MAX`` advice in glibc's tunables documentation.

The trim threshold only shrinks an arena from its top; pictures freed in the middle of a heap
(between a camera's long-lived demuxer buffers) stay resident. :class:`Trimmer` therefore calls
glibc's ``malloc_trim(0)`` every :data:`TRIM_INTERVAL` seconds, which hands every whole free page
of every arena back to the kernel (``madvise(MADV_DONTNEED)``, ``malloc_trim(3)``); the pages the
next pictures need are faulted in again once per interval, not once per picture as a low trim
threshold would. Measured with 20 x 1080p snapshot-only cameras while RTSP probes still decoded
pictures (a burst of ~70 MiB when cameras open together): 142 MB of arena memory held 42 MB in
use, and one trim took RSS from 200 to 131 MiB for good. Since probes no longer decode
(:data:`bridge.capture.source.RTSP_PROBE_STREAM_OPTIONS`) the steady figure is ~125 MiB with
or without trimming; it stays for what bursts remain (HTTP and USB probes, many reconnects at
once, event snapshots) at a cost too small to measure every 10 s.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .service import Service

_LOGGER = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  #: glibc <malloc.h>
M_MMAP_THRESHOLD = -3  #: glibc <malloc.h>
M_ARENA_MAX = -8  #: glibc <malloc.h>
ARENA_MAX = 2  #: malloc arenas shared by all threads
MMAP_THRESHOLD = 4 * 1024 * 1024  #: bytes; allocations this big or bigger are separate mappings
TRIM_THRESHOLD = 64 * 1024 * 1024  #: bytes of free memory at an arena's top before it is shrunk
TRIM_INTERVAL = 10.0  #: seconds between two ``malloc_trim(0)`` calls of :class:`Trimmer`


def tune_malloc() -> bool:
    """Apply the settings above unless the environment sets them (``MALLOC_ARENA_MAX``,
    ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` win). Returns whether anything was set;
    False on a C library without ``mallopt`` (e.g. musl), where nothing is needed or possible."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    changed = False
    if "GLIBC_TUNABLES" not in os.environ:
        if "MALLOC_ARENA_MAX" not in os.environ:
            changed |= bool(mallopt(M_ARENA_MAX, ARENA_MAX))
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            changed |= bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
        if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
            changed |= bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _LOGGER.debug("malloc tuned: %s", changed)
    return changed


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a C library without it."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_size_t,)
    fn.restype = ctypes.c_int
    return fn


class Trimmer(Service):
    """Gives the allocator's free pages back to the kernel every ``interval`` seconds (see the
    module's docstring). Async context manager; its loop runs as task ``memory.trim``, each call
    in a worker thread (ctypes releases the GIL). Does nothing on a C
    library without ``malloc_trim``."""

    def __init__(self, interval: float = TRIM_INTERVAL) -> None:
        super().__init__()
        self._interval = interval
        self._trim = _malloc_trim()

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {} if self._trim is None else {"memory.trim": self._run()}

    async def _run(self) -> None:
        trim = self._trim
        assert trim is not None
        while True:
            await asyncio.sleep(self._interval)
            started = time.perf_counter()
            released = await asyncio.to_thread(trim, 0)
            _LOGGER.debug(
                "malloc_trim: %s in %.1f ms",
                "released" if released else "nothing",
                (time.perf_counter() - started) * 1000,
            )
