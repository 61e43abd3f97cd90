"""The capture loop of one running timelapse (task ``timelapse[<id>].capture``).

Frames come from the camera pipeline: a keyframes-only subscription on the running
:class:`~bridge.camera.Camera` (no connection of its own); a camera replaced or removed at run
time is followed. Each due frame is encoded (an MJPEG camera's own JPEG is kept as it is),
scored by :mod:`.quality`, then kept by :mod:`.archive` or discarded; the disk guard holds
capture while space is low. State changes go through the manager (events, MQTT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..capture import Frame, Need, picture
from ..config.timelapse import Settings
from ..snapshot import ENCODER
from ..store import StoreError
from . import quality, retention, schedule
from .archive import StorageError
from .render import thumbnail
from .state import Runtime, State

if TYPE_CHECKING:
    from ..camera import Camera
    from .manager import TimelapseManager

_LOGGER = logging.getLogger(__name__)

FRAME_WAIT = 15.0  #: seconds a due capture waits for a keyframe before giving up this time
FRESH = 10.0  #: seconds; an older keyframe (left in the mailbox before a stall) is not used
MAX_FPS = 1.0  #: keyframes handed to the recorder per second at most (the newest waits when due)
RETRY = 10.0  #: seconds before retrying after a failed capture (no frame, disk guard, storage)
NO_WINDOW_RECHECK = 3600.0  #: seconds between checks when no window opens within a week
THUMBNAIL_EVERY = 60.0  #: seconds between refreshes of a timelapse's thumbnail


def capture_frame(
    frame: Frame, jpeg_quality: int, previous: Any, baseline: quality.Baseline | None = None
) -> tuple[bytes, int, int, quality.Verdict]:
    """Encode (or pass through an MJPEG frame) and score. Blocking: runs in the encoder thread."""
    if frame.passthrough is not None:
        jpeg, image = frame.passthrough, quality.decode(frame.passthrough)
    else:  # from the YUV planes; the checks measure the luma plane (what BGR2GRAY would give)
        planes = frame.yuv420()
        jpeg, image = picture.encode_planes(planes, jpeg_quality), planes[0]
    return jpeg, frame.width, frame.height, quality.check(jpeg, image, previous, baseline)


def _measure_stored(path: Any) -> quality.Verdict | None:
    """Score a stored frame (the newest kept one, after a restart); None when unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    verdict = quality.check(data)
    return verdict if verdict.measures else None


class Recorder:
    """Runs the capture loops of a manager's timelapses (one :meth:`run` task each)."""

    def __init__(self, manager: TimelapseManager) -> None:
        self.m = manager

    async def run(self, rt: Runtime) -> None:
        """Capture frames for ``rt`` until it completes (or the task is cancelled)."""
        camera: Camera | None = None
        sub = None
        if rt.previous is None and rt.frames:
            await self._seed(rt)
        try:
            while True:
                settings = self.m.settings(rt)
                now = time.time()
                ended = schedule.end_reason(rt.spec, self.m.defaults, rt.frames, rt.started_at, now)
                if ended:
                    await self.m.complete(rt, ended)
                    return
                last = max((t for t in (rt.last_capture_at, rt.last_attempt_at) if t is not None), default=None)
                due = schedule.next_capture(rt.spec, settings, self.m.defaults, last, now)
                if due != rt.next_capture_at:
                    rt.next_capture_at = due
                    self.m.changed(rt)
                wake = due if due is not None else now + NO_WINDOW_RECHECK
                until = schedule.end_time(rt.spec, self.m.defaults, rt.started_at)
                if until is not None:
                    wake = min(wake, until)
                if wake > now:
                    await asyncio.sleep(wake - now)
                    continue  # re-evaluate: the window or the end may have moved on
                low = await asyncio.to_thread(
                    retention.low_space, self.m.root, self.m.defaults.min_free_mb, self.m.free
                )
                current = self.m.cameras.get(rt.spec.camera)
                if low or current is None:
                    elsewhere = " here (the cluster's bridge running it captures)" if self.m.shared else ""
                    self.m.set_error(rt, low or f"camera {rt.spec.camera} is not running{elsewhere}")
                    self.m.warn(rt, "paused", "capture paused: %s", rt.error)
                    await asyncio.sleep(min(RETRY, settings.interval))
                    continue
                if current is not camera:
                    if self.m.shared:  # the camera came here (maybe from another bridge): go on from the rows
                        try:
                            await self.m.sync(only=rt)
                        except Exception as err:  # the database away: the lease goes too
                            self.m.set_error(rt, f"cannot read the cluster's timelapse rows: {err}")
                            await asyncio.sleep(min(RETRY, settings.interval))
                            continue
                        if rt.lifecycle is not State.RUNNING:
                            return
                        ended = schedule.end_reason(rt.spec, self.m.defaults, rt.frames, rt.started_at, now)
                        if ended:
                            continue
                    if camera is not None and sub is not None:
                        camera.unsubscribe(sub)
                    camera, sub = current, current.subscribe(Need(keyframes_only=True, max_fps=MAX_FPS), "timelapse")
                assert sub is not None
                frame = await self._next_frame(rt, camera, sub)
                if frame is None:
                    if self.m.cameras.get(rt.spec.camera) is camera:  # else: replaced, resubscribe
                        await asyncio.sleep(min(RETRY, settings.interval))
                    continue
                stored = await self._take(rt, frame, settings)
                del frame  # once decoded a full-size picture: not held through the next sleep
                if not stored:
                    await asyncio.sleep(min(RETRY, settings.interval))
        finally:
            if camera is not None and sub is not None:
                camera.unsubscribe(sub)

    async def _seed(self, rt: Runtime) -> None:
        """After a restart, compare the next frames with the newest kept one (sudden change,
        scene baseline) rather than with nothing."""
        row = await asyncio.to_thread(self.m.archive.latest_frame, rt.id)
        if row is None:
            return
        verdict = await asyncio.to_thread(_measure_stored, self.m.archive.path(row.path))
        if verdict is not None:
            rt.previous = verdict.gray
            rt.measures.append(verdict.measures)

    async def _next_frame(self, rt: Runtime, camera: Camera, sub: Any) -> Frame | None:
        """The camera's newest keyframe (not older than FRESH); None after FRAME_WAIT seconds
        without one, or at once when the camera was replaced or removed meanwhile."""
        deadline = time.monotonic() + FRAME_WAIT
        while time.monotonic() < deadline:
            if self.m.cameras.get(rt.spec.camera) is not camera:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    frame: Frame = await sub.next()
                    if time.time() - frame.time <= FRESH:
                        return frame
        self.m.warn(rt, "no_frame", "no keyframe from camera %s within %s s", rt.spec.camera, FRAME_WAIT)
        return None

    async def _take(self, rt: Runtime, frame: Frame, settings: Settings) -> bool:
        """Score and store (or discard) one frame; False when it could not be stored."""
        loop = asyncio.get_running_loop()
        try:
            jpeg, width, height, verdict = await loop.run_in_executor(
                ENCODER,
                capture_frame,
                frame,
                settings.jpeg_quality,
                rt.previous,
                quality.Baseline.of(list(rt.measures)),
            )
        except ValueError as err:  # an MJPEG frame that does not decode at all
            jpeg, width, height = b"", frame.width, frame.height
            verdict = quality.Verdict(0.0, "undecodable", ("undecodable",), {"undecodable": 0.0})
            _LOGGER.debug("timelapse %s: frame conversion failed: %s", rt.id, err)
        captured_at = frame.time
        rt.last_attempt_at = time.time()
        rt.last_score = verdict.score
        if not verdict.kept(settings.min_score):
            return await self._discard(rt, verdict, settings, captured_at)
        try:
            row = await asyncio.to_thread(
                self.m.archive.add_frame, rt.id, jpeg, captured_at, width, height, verdict.score, verdict.flags
            )
        except (StorageError, StoreError) as err:  # disk full, read-only, database locked
            self.m.set_error(rt, f"cannot store frames: {err}")
            self.m.warn(rt, "storage", "%s", err)
            return False
        if captured_at - rt.thumbnail_at >= THUMBNAIL_EVERY:  # before the frame counts: a status
            # saying "frames: 1" (published by anyone meanwhile) means the thumbnail is there
            rt.thumbnail_at = captured_at
            await asyncio.to_thread(thumbnail, self.m.archive.path(row.path), self.m.thumbnail_path(rt.id))
        rt.previous = verdict.gray
        rt.measures.append(verdict.measures)
        rt.frames += 1
        rt.bytes += row.size
        rt.last_capture_at = captured_at
        rt.consecutive_bad = 0
        rt.degraded = None
        self.m.set_error(rt, None)
        self.m.on_image(rt.id, jpeg)
        self.m.on_event(
            "timelapse.frame",
            {
                "timelapse": rt.id,
                "frame": row.id,
                "kept": True,
                "captured_at": _iso(captured_at),
                "score": verdict.score,
                "flags": list(verdict.flags),
            },
        )
        self.m.changed(rt)
        return True

    async def _discard(self, rt: Runtime, verdict: quality.Verdict, settings: Settings, captured_at: float) -> bool:
        reason = verdict.reason or "low_score"
        rt.discarded[reason] = rt.discarded.get(reason, 0) + 1
        rt.consecutive_bad += 1
        try:
            await asyncio.to_thread(self.m.archive.add_discard, rt.id, reason)
        except StoreError as err:  # the count in memory and in metrics still grows
            self.m.warn(rt, "storage", "cannot count a discarded frame: %s", err)
        if rt.consecutive_bad >= settings.degraded_after and not rt.degraded:
            self.m.warn(
                rt, "degraded", "degraded: %d consecutive frames discarded (last: %s)", rt.consecutive_bad, reason
            )
        if rt.consecutive_bad >= settings.degraded_after:
            rt.degraded = f"{rt.consecutive_bad} consecutive frames discarded (last: {reason})"
        self.m.on_event(
            "timelapse.frame",
            {
                "timelapse": rt.id,
                "frame": None,
                "kept": False,
                "captured_at": _iso(captured_at),
                "score": verdict.score,
                "reason": reason,
                "flags": list(verdict.flags),
            },
        )
        self.m.changed(rt)
        return True


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
