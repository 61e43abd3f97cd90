"""The timelapse manager: one capture task per running timelapse, renders, retention, and the
operations behind the API, JSON-RPC and MQTT commands.

Frames come from the camera pipeline (a keyframes-only subscription on the running
:class:`~bridge.camera.Camera`; no connection of its own). Each due frame is encoded (or, from
an MJPEG camera, taken as it is), scored by :mod:`.quality`, and stored by :mod:`.storage` or
discarded. Everything the manager does is reported through ``on_event(type, data)`` (the event
bus: SSE, JSON-RPC) and ``on_image(id, jpeg)`` (MQTT), never by reaching into publishers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2

from ..capture import Frame, Need
from ..config import ConfigError
from ..service import Service
from ..snapshot import ENCODER
from ..store import StoreError
from . import quality, retention, schedule
from .config import Defaults, Settings, Spec, effective, reference_errors, spec_data, spec_from_data
from .render import Progress, RenderError, render, thumbnail
from .state import (
    TRANSITIONS,
    InvalidTimelapse,
    Runtime,
    State,
    TimelapseConflict,
    UnknownTimelapse,
)
from .storage import StorageError, TimelapseStore

if TYPE_CHECKING:
    from ..camera import Camera
    from ..config import Config
    from ..store import Store

_LOGGER = logging.getLogger(__name__)

FRAME_WAIT = 15.0  #: seconds a due capture waits for a keyframe before giving up this time
FRESH = 10.0  #: seconds; an older keyframe (left in the mailbox before a stall) is not used
RETRY = 10.0  #: seconds before retrying after a failed capture (no frame, disk guard, storage)
NO_WINDOW_RECHECK = 3600.0  #: seconds between checks when no window opens within a week
HOUSEKEEPING = 60.0  #: seconds between retention runs and daily-render checks
THUMBNAIL_EVERY = 60.0  #: seconds between refreshes of a timelapse's thumbnail
PROGRESS_STEP = 1.0  #: percent between published render progress updates

Emit = Callable[[str, dict[str, Any]], None]


def _capture_frame(frame: Frame, jpeg_quality: int, previous: Any) -> tuple[bytes, int, int, quality.Verdict]:
    """Encode (or pass through an MJPEG frame) and score. Blocking: runs in the encoder thread."""
    if frame.jpeg is not None:
        jpeg, image = frame.jpeg, quality.decode(frame.jpeg)
    else:
        image = frame.bgr()
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        jpeg = buf.tobytes() if ok else b""
    return jpeg, frame.width, frame.height, quality.check(jpeg, image, previous)


class TimelapseManager(Service):
    """Runs the timelapses of ``config`` and those created through the API (kept in ``store``).

    Async context manager: tasks ``timelapse.housekeeping``, ``timelapse[<id>].capture`` per
    running timelapse and ``timelapse[<id>].render`` per render. ``free`` reads free bytes (the
    disk guard; replaceable in tests).
    """

    def __init__(self, config: Config, cameras: dict[str, Camera], store: Store, *,
                 on_event: Emit | None = None, on_image: Callable[[str, bytes], None] | None = None,
                 free: retention.FreeSpace = retention.free_bytes) -> None:
        super().__init__()
        self.config = config
        self.defaults: Defaults = config.timelapse or Defaults()
        self.cameras = cameras
        self.root = config.state_dir / "timelapses"
        self.tstore = TimelapseStore(store, self.root)
        self.timelapses: dict[str, Runtime] = {}
        self.on_event = on_event or (lambda _type, _data: None)
        self.on_image = on_image or (lambda _id, _jpeg: None)
        self.free = free
        #: the clock of retention and daily renders (epoch seconds; replaceable in tests)
        self.clock: Callable[[], float] = time.time
        self._warned: set[tuple[str, str]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        await asyncio.to_thread(self.tstore.reconcile)
        rows = await asyncio.to_thread(self.tstore.timelapses)
        for tl_id, spec in self.config.timelapses.items():
            row = rows.get(tl_id)
            if row is not None and row["origin"] != "yaml":
                _LOGGER.warning("timelapse %s: defined in YAML now; the one made through the API "
                                "with this id is replaced (its frames are kept)", tl_id)
            if row is None or row["origin"] != "yaml":
                state = State.RUNNING if spec.autostart else State.CREATED
                row = {"state": state, "started_at": None, "last_capture_at": None}
                if state is State.RUNNING:
                    row["started_at"] = time.time()
                await asyncio.to_thread(self.tstore.save, tl_id, origin="yaml", state=str(state),
                                        started_at=row["started_at"])
            self.timelapses[tl_id] = Runtime(spec, "yaml", State(row["state"]), row["started_at"],
                                             row["last_capture_at"])
        for tl_id, row in rows.items():
            if row["origin"] != "api" or tl_id in self.timelapses:
                continue
            try:
                spec = spec_from_data(tl_id, row["config"])
            except ConfigError as err:
                _LOGGER.error("timelapse %s: stored options no longer valid, skipped: %s", tl_id, err)
                continue
            self.timelapses[tl_id] = Runtime(spec, "api", State(row["state"]), row["started_at"],
                                             row["last_capture_at"])
        for rt in self.timelapses.values():
            await self._load_counts(rt)

    async def __aenter__(self) -> TimelapseManager:
        await super().__aenter__()
        for rt in self.timelapses.values():
            if rt.lifecycle is State.RUNNING:
                self._spawn(rt)
        return self

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"timelapse.housekeeping": self._housekeeping()}

    async def _load_counts(self, rt: Runtime) -> None:
        rt.frames, rt.bytes, _ = await asyncio.to_thread(self.tstore.frame_stats, rt.id)
        rt.discarded = await asyncio.to_thread(self.tstore.discards, rt.id)
        rt.videos = len(await asyncio.to_thread(self.tstore.videos, rt.id))

    def _spawn(self, rt: Runtime) -> None:
        rt.capture_task = self._task(self._capture(rt), f"timelapse[{rt.id}].capture")

    def _task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task in the manager's group, cancelled when the manager stops."""
        assert self._group is not None
        task = self._group.create_task(coro, name=name)
        self._tasks = [t for t in self._tasks if not t.done()] + [task]
        return task

    def settings(self, rt: Runtime) -> Settings:
        """The effective settings of a timelapse."""
        camera = self.cameras.get(rt.spec.camera)
        return effective(rt.spec, camera.config.timelapse if camera else {}, self.defaults)[0]

    def view(self, rt: Runtime) -> dict[str, Any]:
        camera = self.cameras.get(rt.spec.camera)
        return rt.view(camera.config.timelapse if camera else {}, self.defaults)

    def _changed(self, rt: Runtime) -> None:
        self.on_event("timelapse.status", rt.status())

    def _warn(self, rt: Runtime, kind: str, message: str, *args: Any) -> None:
        """Warn once per timelapse and kind of fault, then log at debug until it clears."""
        key = (rt.id, kind)
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        _LOGGER.log(level, "timelapse %s: " + message, rt.id, *args)

    def _set_error(self, rt: Runtime, error: str | None) -> None:
        if rt.error != error:
            rt.error = error
            if error is None:
                self._warned = {k for k in self._warned if k[0] != rt.id}
                _LOGGER.info("timelapse %s: capturing again", rt.id)
            self._changed(rt)

    # -- capture ---------------------------------------------------------------------------

    async def _capture(self, rt: Runtime) -> None:
        camera: Camera | None = None
        sub = None
        try:
            while True:
                settings = self.settings(rt)
                now = time.time()
                ended = schedule.end_reason(rt.spec, self.defaults, rt.frames, rt.started_at, now)
                if ended:
                    await self._complete(rt, ended)
                    return
                last = max((t for t in (rt.last_capture_at, rt.last_attempt_at) if t is not None), default=None)
                due = schedule.next_capture(rt.spec, settings, self.defaults, last, now)
                if due != rt.next_capture_at:
                    rt.next_capture_at = due
                    self._changed(rt)
                wake = due if due is not None else now + NO_WINDOW_RECHECK
                until = schedule.end_time(rt.spec, self.defaults, rt.started_at)
                if until is not None:
                    wake = min(wake, until)
                if wake > now:
                    await asyncio.sleep(wake - now)
                    continue  # re-evaluate: the window or the end may have moved on
                low = await asyncio.to_thread(retention.low_space, self.root, self.defaults.min_free_mb, self.free)
                current = self.cameras.get(rt.spec.camera)
                if low or current is None:
                    self._set_error(rt, low or f"camera {rt.spec.camera} is not running")
                    self._warn(rt, "paused", "capture paused: %s", rt.error)
                    await asyncio.sleep(min(RETRY, settings.interval))
                    continue
                if current is not camera:
                    if camera is not None and sub is not None:
                        camera.unsubscribe(sub)
                    camera, sub = current, current.subscribe(Need(keyframes_only=True))
                assert sub is not None
                frame = await self._next_frame(rt, camera, sub)
                if frame is None:
                    if self.cameras.get(rt.spec.camera) is camera:  # else: replaced, resubscribe
                        await asyncio.sleep(min(RETRY, settings.interval))
                    continue
                if not await self._take(rt, frame, settings):
                    await asyncio.sleep(min(RETRY, settings.interval))
        finally:
            if camera is not None and sub is not None:
                camera.unsubscribe(sub)

    async def _next_frame(self, rt: Runtime, camera: Camera, sub: Any) -> Frame | None:
        """The camera's newest keyframe (not older than FRESH); None after FRAME_WAIT seconds
        without one, or at once when the camera was replaced or removed meanwhile."""
        deadline = time.monotonic() + FRAME_WAIT
        while time.monotonic() < deadline:
            if self.cameras.get(rt.spec.camera) is not camera:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    frame: Frame = await sub.next()
                    if time.time() - frame.time <= FRESH:
                        return frame
        self._warn(rt, "no_frame", "no keyframe from camera %s within %s s", rt.spec.camera, FRAME_WAIT)
        return None

    async def _take(self, rt: Runtime, frame: Frame, settings: Settings) -> bool:
        """Score and store (or discard) one frame; False when it could not be stored."""
        loop = asyncio.get_running_loop()
        try:
            jpeg, width, height, verdict = await loop.run_in_executor(
                ENCODER, _capture_frame, frame, settings.jpeg_quality, rt.previous)
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
            row = await asyncio.to_thread(self.tstore.add_frame, rt.id, jpeg, captured_at, width,
                                          height, verdict.score, verdict.flags)
        except (StorageError, StoreError) as err:  # disk full, read-only, database locked
            self._set_error(rt, f"cannot store frames: {err}")
            self._warn(rt, "storage", "%s", err)
            return False
        rt.previous = verdict.gray
        rt.frames += 1
        rt.bytes += row.size
        rt.last_capture_at = captured_at
        rt.consecutive_bad = 0
        rt.degraded = None
        self._set_error(rt, None)
        if captured_at - rt.thumbnail_at >= THUMBNAIL_EVERY:
            rt.thumbnail_at = captured_at
            await asyncio.to_thread(thumbnail, self.tstore.path(row.path), self.thumbnail_path(rt.id))
        self.on_image(rt.id, jpeg)
        self.on_event("timelapse.frame", {"timelapse": rt.id, "frame": row.id, "kept": True,
                                          "captured_at": _iso(captured_at), "score": verdict.score,
                                          "flags": list(verdict.flags)})
        self._changed(rt)
        return True

    async def _discard(self, rt: Runtime, verdict: quality.Verdict, settings: Settings,
                       captured_at: float) -> bool:
        reason = verdict.reason or "low_score"
        rt.discarded[reason] = rt.discarded.get(reason, 0) + 1
        rt.consecutive_bad += 1
        try:
            await asyncio.to_thread(self.tstore.add_discard, rt.id, reason)
        except StoreError as err:  # the count in memory and in metrics still grows
            self._warn(rt, "storage", "cannot count a discarded frame: %s", err)
        if rt.consecutive_bad >= settings.degraded_after and not rt.degraded:
            self._warn(rt, "degraded", "degraded: %d consecutive frames discarded (last: %s)",
                       rt.consecutive_bad, reason)
        if rt.consecutive_bad >= settings.degraded_after:
            rt.degraded = f"{rt.consecutive_bad} consecutive frames discarded (last: {reason})"
        self.on_event("timelapse.frame", {"timelapse": rt.id, "frame": None, "kept": False,
                                          "captured_at": _iso(captured_at), "score": verdict.score,
                                          "reason": reason, "flags": list(verdict.flags)})
        self._changed(rt)
        return True

    async def _complete(self, rt: Runtime, reason: str) -> None:
        _LOGGER.info("timelapse %s: completed (%s) with %d frames", rt.id, reason, rt.frames)
        rt.completed_reason = reason
        await self._set_lifecycle(rt, State.COMPLETED)
        if self.settings(rt).render_on_complete and rt.frames and not rt.rendering:
            self.start_render(rt.id, "completed")

    async def _set_lifecycle(self, rt: Runtime, state: State) -> None:
        rt.lifecycle = state
        if state is State.RUNNING and rt.started_at is None:
            rt.started_at = time.time()
        if state is not State.RUNNING:
            rt.next_capture_at = None
        await asyncio.to_thread(
            self.tstore.save, rt.id, origin=rt.origin, state=str(state),
            config=spec_data(rt.spec) if rt.origin == "api" else None, started_at=rt.started_at,
            last_capture_at=rt.last_capture_at)
        self._changed(rt)

    # -- operations (API, JSON-RPC, MQTT) --------------------------------------------------

    def get(self, tl_id: str) -> Runtime:
        """The timelapse ``tl_id``. Raises :class:`UnknownTimelapse`."""
        rt = self.timelapses.get(tl_id)
        if rt is None:
            raise UnknownTimelapse(f"no timelapse {tl_id}")
        return rt

    async def act(self, tl_id: str, action: str) -> Runtime:
        """Apply ``start``/``pause``/``resume``/``stop``/``render``/``cancel``. Raises
        :class:`UnknownTimelapse`, :class:`TimelapseConflict` (not applicable now)."""
        rt = self.get(tl_id)
        if action == "render":
            self.start_render(tl_id, "manual")
            return rt
        if action == "cancel":
            if not rt.rendering:
                raise TimelapseConflict(f"timelapse {tl_id} is not rendering")
            assert rt.render_task is not None
            rt.cancel_requested = True
            rt.render_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(rt.render_task)
            return rt
        if action not in TRANSITIONS:
            raise TimelapseConflict(f"unknown action {action}")
        sources, target = TRANSITIONS[action]
        if rt.lifecycle not in sources:
            raise TimelapseConflict(f"cannot {action} timelapse {tl_id}: it is {rt.lifecycle}")
        await self._stop_capture(rt)
        await self._set_lifecycle(rt, target)
        if target is State.RUNNING:
            self._spawn(rt)
        _LOGGER.info("timelapse %s: %s -> %s", tl_id, action, target)
        return rt

    async def _stop_capture(self, rt: Runtime) -> None:
        task, rt.capture_task = rt.capture_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        rt.error = rt.degraded = None
        rt.consecutive_bad = 0

    async def create(self, body: Any) -> Runtime:
        """Create a timelapse from an API body (``id`` optional: from ``name``, else the
        camera). Raises :class:`InvalidTimelapse`, :class:`TimelapseConflict`."""
        if not isinstance(body, dict):
            raise InvalidTimelapse(["timelapses: expected a JSON object"])
        body = dict(body)
        tl_id = body.pop("id", None)
        if tl_id is None:
            from ..registry import slugify

            tl_id = slugify(str(body.get("name") or body.get("camera") or "timelapse"))
        if not isinstance(tl_id, str):
            raise InvalidTimelapse(["timelapses.id: expected a string"])
        if tl_id in self.timelapses:
            raise TimelapseConflict(f"timelapse {tl_id} already exists")
        spec = self._validate(tl_id, body)
        state = State.RUNNING if spec.autostart else State.CREATED
        rt = Runtime(spec, "api", State.CREATED)
        self.timelapses[tl_id] = rt
        await self._set_lifecycle(rt, state)
        if state is State.RUNNING:
            self._spawn(rt)
        self.on_event("timelapse.added", {"timelapse": tl_id})
        return rt

    def _validate(self, tl_id: str, body: dict[str, Any]) -> Spec:
        try:
            spec = spec_from_data(tl_id, body)
        except ConfigError as err:
            raise InvalidTimelapse(err.errors) from None
        errors = reference_errors(spec, self.cameras, self.defaults, f"timelapses.{tl_id}")
        if errors:
            raise InvalidTimelapse(errors)
        return spec

    async def update(self, tl_id: str, changes: Any) -> Runtime:
        """Change an API timelapse's options (the given keys replace the current ones; ``null``
        resets a setting to inherit). Raises as :meth:`create`."""
        rt = self.get(tl_id)
        if rt.origin != "api":
            raise TimelapseConflict(f"timelapse {tl_id} is defined in the YAML configuration")
        if not isinstance(changes, dict):
            raise InvalidTimelapse([f"timelapses.{tl_id}: expected a JSON object"])
        if changes.get("id", tl_id) != tl_id:
            raise InvalidTimelapse([f"timelapses.{tl_id}.id: cannot be changed"])
        merged = {**spec_data(rt.spec), **{k: v for k, v in changes.items() if k != "id"}}
        rt.spec = self._validate(tl_id, {k: v for k, v in merged.items() if v is not None})
        await self._stop_capture(rt)
        await self._set_lifecycle(rt, rt.lifecycle)
        if rt.lifecycle is State.RUNNING:
            self._spawn(rt)
        self.on_event("timelapse.updated", {"timelapse": tl_id})
        return rt

    async def remove(self, tl_id: str) -> None:
        """Stop and delete an API timelapse with its frames and videos."""
        rt = self.get(tl_id)
        if rt.origin != "api":
            raise TimelapseConflict(f"timelapse {tl_id} is defined in the YAML configuration")
        await self._stop_capture(rt)
        if rt.rendering:
            await self.act(tl_id, "cancel")
        del self.timelapses[tl_id]
        await asyncio.to_thread(self.tstore.forget, tl_id)
        self.on_event("timelapse.removed", {"timelapse": tl_id, "camera": rt.spec.camera})

    def thumbnail_path(self, tl_id: str) -> Path:
        """Where a timelapse's thumbnail (its latest frame, small) is kept."""
        return self.root / tl_id / "thumbnail.jpg"

    # -- rendering -------------------------------------------------------------------------

    def start_render(self, tl_id: str, trigger: str) -> None:
        """Start rendering every kept frame (``trigger``: manual, completed, daily). Raises
        :class:`TimelapseConflict` when rendering already or without frames."""
        rt = self.get(tl_id)
        if rt.rendering:
            raise TimelapseConflict(f"timelapse {tl_id} is rendering already")
        if not rt.frames:
            raise TimelapseConflict(f"timelapse {tl_id} has no frames to render")
        rt.cancel_requested = False
        rt.render = {"state": "running", "trigger": trigger, "percent": 0.0, "frames": 0,
                     "total": rt.frames, "eta_s": None, "elapsed_s": 0.0}
        rt.render_task = self._task(self._render(rt, trigger), f"timelapse[{tl_id}].render")
        self._changed(rt)

    def _progress(self, rt: Runtime, update: Progress) -> None:
        assert rt.render is not None
        if update.percent - rt.render["percent"] < PROGRESS_STEP and update.percent < 100:
            return
        rt.render.update(update.as_payload())
        self.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})

    async def _render(self, rt: Runtime, trigger: str) -> None:
        settings = self.settings(rt)
        frames = await asyncio.to_thread(self.tstore.frames, rt.id)
        started = time.time()
        name = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
        out = self.root / rt.id / "videos" / f"{name}.mp4"
        _LOGGER.info("timelapse %s: rendering %d frames (%s)", rt.id, len(frames), trigger)
        assert rt.render is not None
        self.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})
        try:
            result = await render([(self.tstore.path(f.path), f.captured_at) for f in frames], out,
                                  fps=settings.fps, width=settings.width, crf=settings.crf,
                                  timestamp=settings.timestamp, tz=self.defaults.tzinfo,
                                  on_progress=lambda p: self._progress(rt, p))
            thumb = out.with_suffix(".jpg")
            has_thumb = await asyncio.to_thread(thumbnail, self.tstore.path(frames[-1].path), thumb)
            video = await asyncio.to_thread(self.tstore.add_video, {
                "timelapse_id": rt.id, "path": out.relative_to(self.root).as_posix(),
                "thumbnail": thumb.relative_to(self.root).as_posix() if has_thumb else None,
                "created_at": started, "frames": result.frames, "duration": result.duration,
                "size": result.size, "width": result.width, "height": result.height,
                "fps": settings.fps, "first_at": frames[0].captured_at, "last_at": frames[-1].captured_at})
        except asyncio.CancelledError:
            if not rt.cancel_requested:
                raise  # the bridge is stopping
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            self._render_done(rt, "cancelled", None)
            return
        except (RenderError, StorageError, OSError) as err:
            _LOGGER.warning("timelapse %s: render failed: %s", rt.id, err)
            self._render_done(rt, "failed", str(err))
            return
        deleted = await asyncio.to_thread(retention.after_render, self.tstore, rt.id, settings, video.last_at)
        await asyncio.to_thread(retention.apply, self.tstore, rt.id, settings, time.time())
        await self._load_counts(rt)
        if deleted:
            _LOGGER.info("timelapse %s: %d rendered frames deleted", rt.id, deleted)
        assert rt.render is not None
        rt.render["video"] = video.id
        self._render_done(rt, "done", None)
        _LOGGER.info("timelapse %s: video %d rendered (%d frames, %.1f s, %d bytes)", rt.id,
                     video.id, video.frames, video.duration, video.size)

    def _render_done(self, rt: Runtime, result: str, error: str | None) -> None:
        assert rt.render is not None
        rt.render["state"] = result
        if error:
            rt.render["error"] = error
        rt.renders[result] = rt.renders.get(result, 0) + 1
        self.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})
        self._changed(rt)

    # -- housekeeping ----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            now = self.clock()
            for rt in list(self.timelapses.values()):
                settings = self.settings(rt)
                if settings.keep_days is not None or settings.keep_videos is not None:
                    deleted = await asyncio.to_thread(retention.apply, self.tstore, rt.id, settings, now)
                    if any(deleted.values()):
                        await self._load_counts(rt)
                        self._changed(rt)
                if settings.render_at is None:
                    continue
                if rt.next_daily is None:
                    rt.next_daily = schedule.next_daily(settings.render_at, now, self.defaults.tzinfo)
                elif now >= rt.next_daily:
                    rt.next_daily = schedule.next_daily(settings.render_at, now, self.defaults.tzinfo)
                    if rt.frames and not rt.rendering:
                        self.start_render(rt.id, "daily")
            await asyncio.sleep(HOUSEKEEPING)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
