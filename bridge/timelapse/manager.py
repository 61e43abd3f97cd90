"""The timelapse manager: one capture task per running timelapse, renders, retention, and the
operations behind the API, JSON-RPC and MQTT commands.

Capture loops are :class:`.recorder.Recorder` runs, render jobs :class:`.renderer.Renderer`
ones; this module holds the timelapses' lifecycle, their operations and housekeeping
(retention, daily renders). Everything the manager does is reported through
``on_event(type, data)`` (the event bus: SSE, JSON-RPC) and ``on_image(id, jpeg)`` (MQTT), never
by reaching into publishers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ConfigError
from ..config.timelapse import Defaults, Settings, Spec, effective, reference_errors, spec_data, spec_from_data
from ..service import Service
from . import retention, schedule
from .archive import TimelapseArchive
from .recorder import Recorder
from .renderer import Renderer
from .shared import SharedTimelapseArchive
from .state import (
    TRANSITIONS,
    InvalidTimelapse,
    Runtime,
    State,
    TimelapseConflict,
    UnknownTimelapse,
)

if TYPE_CHECKING:
    from ..camera import Camera
    from ..config import Config
    from ..store import Store

_LOGGER = logging.getLogger(__name__)

HOUSEKEEPING = 60.0  #: seconds between retention runs and daily-render checks
SYNC = 2.0  #: seconds between reads of the shared timelapse rows (cluster mode)


def timelapse_root(config: Config) -> Path:
    """Where the timelapse frames and videos go: ``timelapse.storage``, else
    ``{data_dir}/timelapses``."""
    storage = config.timelapse.storage if config.timelapse else None
    return Path(storage) if storage else config.state_dir / "timelapses"


Emit = Callable[[str, dict[str, Any]], None]


class TimelapseManager(Service):
    """Runs the timelapses of ``config`` and those created through the API (kept in ``store``).

    Async context manager: tasks ``timelapse.housekeeping``, ``timelapse[<id>].capture`` per
    running timelapse and ``timelapse[<id>].render`` per render. ``free`` reads free bytes (the
    disk guard; replaceable in tests). ``archive``: where the rows and files go (default: a
    :class:`TimelapseArchive` over ``store``); with a
    :class:`~.shared.SharedTimelapseArchive` (cluster mode) the timelapses are the cluster's:
    a ``timelapse.sync`` task follows the rows other bridges change (state, frames, API
    timelapses added or removed) every :data:`SYNC` seconds, and whoever holds the camera
    captures; ``cluster_cameras`` gives the ids of every camera of the cluster (an API
    timelapse may be made on one another bridge runs).
    """

    def __init__(
        self,
        config: Config,
        cameras: dict[str, Camera],
        store: Store,
        *,
        on_event: Emit | None = None,
        on_image: Callable[[str, bytes], None] | None = None,
        free: retention.FreeSpace = retention.free_bytes,
        archive: TimelapseArchive | None = None,
        cluster_cameras: Callable[[], Collection[str]] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.defaults: Defaults = config.timelapse or Defaults()
        self.cameras = cameras
        self.root = timelapse_root(config)
        self.archive = archive if archive is not None else TimelapseArchive(store, self.root)
        self.root = self.archive.root
        self.timelapses: dict[str, Runtime] = {}
        self.on_event = on_event or (lambda _type, _data: None)
        self.on_image = on_image or (lambda _id, _jpeg: None)
        self.free = free
        #: cluster mode: ids of every camera of the shared registry (a timelapse may be made on
        #: a camera another bridge runs: that bridge captures it)
        self.cluster_cameras = cluster_cameras or (lambda: ())
        #: the clock of retention and daily renders (epoch seconds; replaceable in tests)
        self.clock: Callable[[], float] = time.time
        self.recorder = Recorder(self)
        self.renderer = Renderer(self)
        self._warned: set[tuple[str, str]] = set()
        self._writes = 0  #: timelapse rows this bridge saved (a sync does not undo a newer one)

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        await asyncio.to_thread(self.archive.reconcile)
        rows = await asyncio.to_thread(self.archive.timelapses)
        for tl_id, spec in self.config.timelapses.items():
            row = rows.get(tl_id)
            if row is not None and row["origin"] != "yaml":
                _LOGGER.warning(
                    "timelapse %s: defined in YAML now; the one made through the API "
                    "with this id is replaced (its frames are kept)",
                    tl_id,
                )
            self.timelapses[tl_id] = await self._yaml_runtime(tl_id, spec, row)
        for tl_id, row in rows.items():
            if row["origin"] != "api" or tl_id in self.timelapses:
                continue
            try:
                spec = spec_from_data(tl_id, row["config"])
            except ConfigError as err:
                _LOGGER.error("timelapse %s: stored options no longer valid, skipped: %s", tl_id, err)
                continue
            self.timelapses[tl_id] = Runtime(
                spec, "api", State(row["state"]), row["started_at"], row["last_capture_at"]
            )
        for rt in self.timelapses.values():
            await self.load_counts(rt)
            if rt.lifecycle is State.COMPLETED and await self._unrendered(rt):
                rt.render_pending = "completed"  # refused or interrupted before the restart

    async def _yaml_runtime(self, tl_id: str, spec: Spec, row: dict[str, Any] | None) -> Runtime:
        """The runtime of a YAML timelapse from its stored row (a new one when it has none, or
        when an API timelapse of that id is replaced)."""
        if row is None or row["origin"] != "yaml":
            state = State.RUNNING if spec.autostart else State.CREATED
            row = {"state": state, "started_at": None, "last_capture_at": None}
            if state is State.RUNNING:
                row["started_at"] = time.time()
            await asyncio.to_thread(
                self.archive.save, tl_id, origin="yaml", state=str(state), started_at=row["started_at"]
            )
        return Runtime(spec, "yaml", State(row["state"]), row["started_at"], row["last_capture_at"])

    async def reconfigure(self, config: Config) -> list[str]:
        """Take a reloaded configuration (hot reload) and restart only the timelapses it changes.

        A YAML timelapse added starts as at start-up (``autostart``); one removed stops (its frames
        and videos stay on disk and in the archive, as when a restart drops it); one whose own
        options or inherited settings (the ``timelapse`` defaults, e.g. ``interval``) changed
        restarts its capture with them. The others keep capturing untouched; API timelapses are
        kept. Returns the ids added, removed or restarted, sorted.
        """
        before = {tl_id: (rt.spec, self.settings(rt)) for tl_id, rt in self.timelapses.items()}
        self.config = config
        self.defaults = config.timelapse or Defaults()
        touched: list[str] = []
        for tl_id, rt in list(self.timelapses.items()):
            if rt.origin != "yaml" or tl_id in config.timelapses:
                continue
            await self._stop_capture(rt)
            if rt.rendering:
                await self.act(tl_id, "cancel")
            del self.timelapses[tl_id]
            touched.append(tl_id)
            _LOGGER.info("timelapse %s: no longer configured, stopped (its frames are kept)", tl_id)
            self.on_event("timelapse.removed", {"timelapse": tl_id, "camera": rt.spec.camera})
        rows: dict[str, dict[str, Any]] | None = None
        for tl_id, spec in config.timelapses.items():
            current = self.timelapses.get(tl_id)
            if current is None or current.origin != "yaml":
                if rows is None:
                    rows = await asyncio.to_thread(self.archive.timelapses)
                if current is not None:  # an API timelapse of that id: the YAML one wins, as at start
                    await self._stop_capture(current)
                rt = self.timelapses[tl_id] = await self._yaml_runtime(tl_id, spec, rows.get(tl_id))
                await self.load_counts(rt)
                if rt.lifecycle is State.RUNNING:
                    self._spawn_capture(rt)
                touched.append(tl_id)
                _LOGGER.info("timelapse %s: added by the reload", tl_id)
                self.on_event("timelapse.added", {"timelapse": tl_id})
                continue
            rt = current
            rt.spec = spec
            if before.get(tl_id) == (spec, self.settings(rt)):
                continue  # nothing of it changed: its capture goes on
            touched.append(tl_id)
            rt.next_daily = None  # ``render_at`` may have changed
            if rt.lifecycle is State.RUNNING:
                await self._stop_capture(rt)
                self._spawn_capture(rt)
            _LOGGER.info("timelapse %s: restarted with its new options", tl_id)
            self.on_event("timelapse.updated", {"timelapse": tl_id})
        for tl_id, rt in self.timelapses.items():  # API timelapses inherit the defaults too
            if rt.origin == "api" and tl_id in before and before[tl_id][1] != self.settings(rt):
                touched.append(tl_id)
                if rt.lifecycle is State.RUNNING:
                    await self._stop_capture(rt)
                    self._spawn_capture(rt)
                self.on_event("timelapse.updated", {"timelapse": tl_id})
        return sorted(touched)

    async def _unrendered(self, rt: Runtime) -> bool:
        """Whether a completion render is still owed: ``render_on_complete`` is on and frames
        newer than the newest video's last frame are stored."""
        if not rt.frames or not self.settings(rt).render_on_complete:
            return False
        _, _, newest = await asyncio.to_thread(self.archive.frame_stats, rt.id)
        videos = await asyncio.to_thread(self.archive.videos, rt.id)
        return newest is not None and (not videos or newest > videos[0].last_at)

    async def __aenter__(self) -> TimelapseManager:
        await super().__aenter__()
        for rt in self.timelapses.values():
            if rt.lifecycle is State.RUNNING:
                self._spawn_capture(rt)
        return self

    @property
    def shared(self) -> bool:
        """Whether the timelapses are the cluster's (their rows in PostgreSQL)."""
        return isinstance(self.archive, SharedTimelapseArchive)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        loops = {"timelapse.housekeeping": self._housekeeping()}
        if self.shared:
            loops["timelapse.sync"] = self._sync_loop()
        return loops

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(SYNC)
            try:
                await self.sync()
            except Exception as err:  # the database away: the cluster member says so
                _LOGGER.debug("timelapses: cannot read the shared rows: %s", err)

    async def sync(self, only: Runtime | None = None) -> None:
        """Take what other bridges of the cluster changed (cluster mode): a timelapse's state
        (its capture started or stopped here to match), its frame counts and last capture, API
        timelapses added or removed. ``only``: that timelapse alone."""
        writes = self._writes
        rows = await asyncio.to_thread(self.archive.timelapses)
        if writes != self._writes:
            return  # this bridge changed a timelapse meanwhile: what was read may be older
        for tl_id, row in rows.items():
            rt = self.timelapses.get(tl_id)
            if rt is None and only is None and row["origin"] == "api":
                try:
                    spec = spec_from_data(tl_id, row["config"])
                except ConfigError as err:
                    self.warn_once(tl_id, "invalid", "stored options not valid here, skipped: %s", err)
                    continue
                rt = self.timelapses[tl_id] = Runtime(spec, "api", State.CREATED)
                self.on_event("timelapse.added", {"timelapse": tl_id})
            if rt is None or (only is not None and rt is not only):
                continue
            if rt.origin == "api" and row["origin"] == "api" and row["config"] is not None:
                with contextlib.suppress(ConfigError):
                    rt.spec = spec_from_data(tl_id, row["config"])
            state = State(row["state"])
            counts_changed = row["last_capture_at"] != rt.last_capture_at
            rt.started_at = row["started_at"]
            if row["last_capture_at"] is not None:
                rt.last_capture_at = max(row["last_capture_at"], rt.last_capture_at or 0.0)
            if counts_changed:
                await self.load_counts(rt)
            if state is not rt.lifecycle:
                _LOGGER.info("timelapse %s: %s -> %s (changed by another bridge)", tl_id, rt.lifecycle, state)
                if rt.capture_task is not asyncio.current_task():
                    await self._stop_capture(rt)
                rt.lifecycle = state
                if state is not State.RUNNING:
                    rt.next_capture_at = None
                elif rt.capture_task is None or rt.capture_task.done():
                    self._spawn_capture(rt)
                self.changed(rt)
            elif counts_changed:
                self.changed(rt)
        if only is None:
            for tl_id, rt in list(self.timelapses.items()):
                if rt.origin == "api" and tl_id not in rows:
                    await self._stop_capture(rt)
                    del self.timelapses[tl_id]
                    self.on_event("timelapse.removed", {"timelapse": tl_id, "camera": rt.spec.camera})

    def warn_once(self, tl_id: str, kind: str, message: str, *args: Any) -> None:
        """Warn once per timelapse id and kind (also for one without a runtime)."""
        key = (tl_id, kind)
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        _LOGGER.log(level, "timelapse %s: " + message, tl_id, *args)

    async def load_counts(self, rt: Runtime) -> None:
        rt.frames, rt.bytes, _ = await asyncio.to_thread(self.archive.frame_stats, rt.id)
        rt.discarded = await asyncio.to_thread(self.archive.discards, rt.id)
        rt.videos = len(await asyncio.to_thread(self.archive.videos, rt.id))

    def _spawn_capture(self, rt: Runtime) -> None:
        rt.capture_task = self.spawn_task(self.recorder.run(rt), f"timelapse[{rt.id}].capture")

    def spawn_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
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

    def changed(self, rt: Runtime) -> None:
        self.on_event("timelapse.status", rt.status())

    def warn(self, rt: Runtime, kind: str, message: str, *args: Any) -> None:
        """Warn once per timelapse and kind of fault, then log at debug until it clears."""
        key = (rt.id, kind)
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        _LOGGER.log(level, "timelapse %s: " + message, rt.id, *args)

    def set_error(self, rt: Runtime, error: str | None) -> None:
        if rt.error != error:
            rt.error = error
            if error is None:
                self._warned = {k for k in self._warned if k[0] != rt.id}
                _LOGGER.info("timelapse %s: capturing again", rt.id)
            self.changed(rt)

    # -- capture ---------------------------------------------------------------------------

    async def complete(self, rt: Runtime, reason: str) -> None:
        _LOGGER.info("timelapse %s: completed (%s) with %d frames", rt.id, reason, rt.frames)
        rt.completed_reason = reason
        await self._set_lifecycle(rt, State.COMPLETED)
        if self.settings(rt).render_on_complete and rt.frames:
            self._render_by_schedule(rt, "completed")

    async def _set_lifecycle(self, rt: Runtime, state: State) -> None:
        self._writes += 1
        rt.lifecycle = state
        if state is State.RUNNING and rt.started_at is None:
            rt.started_at = time.time()
        if state is not State.RUNNING:
            rt.next_capture_at = None
        await asyncio.to_thread(
            self.archive.save,
            rt.id,
            origin=rt.origin,
            state=str(state),
            config=spec_data(rt.spec) if rt.origin == "api" else None,
            started_at=rt.started_at,
            last_capture_at=rt.last_capture_at,
        )
        self.changed(rt)

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
            self._spawn_capture(rt)
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
            self._spawn_capture(rt)
        self.on_event("timelapse.added", {"timelapse": tl_id})
        return rt

    def _validate(self, tl_id: str, body: dict[str, Any]) -> Spec:
        try:
            spec = spec_from_data(tl_id, body)
        except ConfigError as err:
            raise InvalidTimelapse(err.errors) from None
        known = {*self.cameras, *self.cluster_cameras()}
        errors = reference_errors(spec, known, self.defaults, f"timelapses.{tl_id}")
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
            self._spawn_capture(rt)
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
        await asyncio.to_thread(self.archive.forget, tl_id)
        self.on_event("timelapse.removed", {"timelapse": tl_id, "camera": rt.spec.camera})

    def start_render(self, tl_id: str, trigger: str) -> None:
        """Render every kept frame now (``trigger``: manual, completed, daily). Raises
        :class:`UnknownTimelapse`, :class:`TimelapseConflict` (rendering, or no frames)."""
        self.renderer.start(self.get(tl_id), trigger)

    def _render_by_schedule(self, rt: Runtime, trigger: str) -> None:
        """Start a render nobody asked for right now (completion, daily). One refused (the disk
        guard holds, a render runs) is kept as ``render_pending`` and retried by housekeeping
        until it starts; only a timelapse without frames drops it. In cluster mode only the
        bridge running the camera renders by schedule (else every bridge would)."""
        if self.shared and rt.spec.camera not in self.cameras:
            return
        try:
            self.renderer.start(rt, trigger)
        except TimelapseConflict as err:
            if not rt.frames:
                rt.render_pending = None
                _LOGGER.warning("timelapse %s: %s render skipped: %s", rt.id, trigger, err)
            elif rt.render_pending is None:
                rt.render_pending = trigger
                self.warn(
                    rt, "render_pending", "%s render deferred (retried every %s s): %s", trigger, HOUSEKEEPING, err
                )
            self.changed(rt)
        else:
            if rt.render_pending is not None:
                _LOGGER.info("timelapse %s: deferred %s render started", rt.id, rt.render_pending)
            rt.render_pending = None

    def thumbnail_path(self, tl_id: str) -> Path:
        """Where a timelapse's thumbnail (its latest frame, small) is kept."""
        return self.root / tl_id / "thumbnail.jpg"

    # -- rendering -------------------------------------------------------------------------

    # -- housekeeping ----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            now = self.clock()
            for rt in list(self.timelapses.values()):
                settings = self.settings(rt)
                if settings.keep_days is not None or settings.keep_videos is not None:
                    deleted = await asyncio.to_thread(retention.apply, self.archive, rt.id, settings, now)
                    if any(deleted.values()):
                        await self.load_counts(rt)
                        self.changed(rt)
                if rt.render_pending is not None and not rt.rendering:
                    self._render_by_schedule(rt, rt.render_pending)
                if settings.render_at is None:
                    continue
                if rt.next_daily is None:
                    rt.next_daily = schedule.next_daily(settings.render_at, now, self.defaults.tzinfo)
                elif now >= rt.next_daily:
                    rt.next_daily = schedule.next_daily(settings.render_at, now, self.defaults.tzinfo)
                    if rt.frames and rt.render_pending is None:
                        self._render_by_schedule(rt, "daily")
            await asyncio.sleep(HOUSEKEEPING)
