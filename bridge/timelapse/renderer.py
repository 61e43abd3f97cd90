"""Render jobs of the timelapse manager (task ``timelapse[<id>].render``): every kept frame
through :func:`.render.render`, progress published as ``timelapse.render`` events, the video
row and thumbnail stored, then retention (``delete_frames_after_render``, ``keep_videos``).
A cancel asked for by the user (``cancel`` action) ends the job as ``cancelled``; a bridge
shutdown cancels it like any task."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import retention
from .archive import StorageError
from .render import Progress, RenderError, render, thumbnail
from .state import Runtime, TimelapseConflict

if TYPE_CHECKING:
    from .manager import TimelapseManager

_LOGGER = logging.getLogger(__name__)

PROGRESS_STEP = 1.0  #: percent between published render progress updates


class Renderer:
    """Starts and runs the render jobs of a manager's timelapses."""

    def __init__(self, manager: TimelapseManager) -> None:
        self.m = manager

    def start(self, rt: Runtime, trigger: str) -> None:
        """Start rendering every kept frame (``trigger``: manual, completed, daily). Raises
        :class:`TimelapseConflict` when rendering already, without frames, or while the disk
        guard holds capture (a video would eat the space left)."""
        tl_id = rt.id
        if rt.rendering:
            raise TimelapseConflict(f"timelapse {tl_id} is rendering already")
        if not rt.frames:
            raise TimelapseConflict(f"timelapse {tl_id} has no frames to render")
        low = retention.low_space(self.m.root, self.m.defaults.min_free_mb, self.m.free)
        if low:
            raise TimelapseConflict(f"timelapse {tl_id} cannot render now: {low}")
        rt.cancel_requested = False
        rt.render = {
            "state": "running",
            "trigger": trigger,
            "percent": 0.0,
            "frames": 0,
            "total": rt.frames,
            "eta_s": None,
            "elapsed_s": 0.0,
        }
        rt.render_task = self.m.spawn_task(self._render(rt, trigger), f"timelapse[{tl_id}].render")
        self.m.changed(rt)

    def _progress(self, rt: Runtime, update: Progress) -> None:
        assert rt.render is not None
        if update.percent - rt.render["percent"] < PROGRESS_STEP and update.frames < update.total:
            return
        rt.render.update(update.as_payload())
        self.m.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})

    async def _render(self, rt: Runtime, trigger: str) -> None:
        settings = self.m.settings(rt)
        frames = await asyncio.to_thread(self.m.archive.frames, rt.id)
        missing: dict[str, int] = {}
        if self.m.shared:  # cluster mode: only the frames whose files this bridge can read
            frames, missing = await asyncio.to_thread(self.m.archive.readable, frames)
            assert rt.render is not None
            rt.render["missing"] = sum(missing.values())
            rt.render["missing_by_owner"] = dict(sorted(missing.items()))
            rt.render["total"] = len(frames)
            if missing:
                _LOGGER.warning(
                    "timelapse %s: rendering without %d frame(s) whose files this bridge cannot read (%s); "
                    "a shared timelapse.storage directory lets any bridge render all of them",
                    rt.id,
                    sum(missing.values()),
                    ", ".join(f"{n} captured by {owner}" for owner, n in sorted(missing.items())),
                )
            if not frames:
                self._render_done(rt, "failed", "none of the frames' files are readable on this bridge")
                return
        started = time.time()
        name = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
        out = self.m.root / rt.id / "videos" / f"{name}.mp4"
        _LOGGER.info("timelapse %s: rendering %d frames (%s)", rt.id, len(frames), trigger)
        assert rt.render is not None
        self.m.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})
        try:
            result = await render(
                [(self.m.archive.path(f.path), f.captured_at) for f in frames],
                out,
                fps=settings.fps,
                width=settings.width,
                crf=settings.crf,
                timestamp=settings.timestamp,
                tz=self.m.defaults.tzinfo,
                on_progress=lambda p: self._progress(rt, p),
            )
            thumb = out.with_suffix(".jpg")
            has_thumb = await asyncio.to_thread(thumbnail, self.m.archive.path(frames[-1].path), thumb)
            video = await asyncio.to_thread(
                self.m.archive.add_video,
                {
                    "timelapse_id": rt.id,
                    "path": out.relative_to(self.m.root).as_posix(),
                    "thumbnail": thumb.relative_to(self.m.root).as_posix() if has_thumb else None,
                    "created_at": started,
                    "frames": result.frames,
                    "duration": result.duration,
                    "size": result.size,
                    "width": result.width,
                    "height": result.height,
                    "fps": settings.fps,
                    "first_at": frames[0].captured_at,
                    "last_at": frames[-1].captured_at,
                    **({"missing": sum(missing.values())} if self.m.shared else {}),
                },
            )
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
        deleted = await asyncio.to_thread(retention.after_render, self.m.archive, rt.id, settings, video.last_at)
        await asyncio.to_thread(retention.apply, self.m.archive, rt.id, settings, time.time())
        await self.m.load_counts(rt)
        if deleted:
            _LOGGER.info("timelapse %s: %d rendered frames deleted", rt.id, deleted)
        assert rt.render is not None
        rt.render["video"] = video.id
        self._render_done(rt, "done", None)
        _LOGGER.info(
            "timelapse %s: video %d rendered (%d frames, %.1f s, %d bytes)",
            rt.id,
            video.id,
            video.frames,
            video.duration,
            video.size,
        )

    def _render_done(self, rt: Runtime, result: str, error: str | None) -> None:
        assert rt.render is not None
        rt.render["state"] = result
        if result == "done":  # 100 % only now, with the video committed and recorded
            rt.render.update(percent=100.0, frames=rt.render["total"], eta_s=0.0)
        if error:
            rt.render["error"] = error
        rt.renders[result] = rt.renders.get(result, 0) + 1
        self.m.on_event("timelapse.render", {"timelapse": rt.id, **rt.render})
        self.m.changed(rt)
