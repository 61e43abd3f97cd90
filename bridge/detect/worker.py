"""The per-camera detection stage: frames -> motion gate -> detector -> tracker -> updates.

Subscribes every frame up to ``detect.fps`` from the camera's one connection (the source then
decodes every frame; frames above the rate are dropped before any colour conversion) only while
detection is on; off, the subscription is dropped and the source goes back to keyframes only.
All pixel work (conversion, motion, inference, snapshot JPEGs, captures) runs in the worker's
own thread; the event loop only applies the outcome and hands :class:`DetectUpdate` objects to
the publishers (MQTT, event bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..camera import Camera
from ..capture import Frame, Need, Subscription
from ..config.detect import DetectConfig
from ..core.events import DetectUpdate
from ..service import Service
from ..status import CameraState
from .best import BestSnapshots, EventPicture
from .clips import ClipRecorder
from .detector import Detector, load
from .motion import MotionDetector, polygon_mask
from .stats import DetectStats
from .tracker import DETECTION_OFF, STREAM_LOST, Box, Track, Tracker
from .training import TrainingCapture

_LOGGER = logging.getLogger(__name__)

#: motion regions (with tracked boxes) covering more than this fraction: the whole frame is used
REGION_FRACTION = 0.5
#: a region is grown by this fraction of its size on each side, and to at least this side
REGION_MARGIN = 0.15
REGION_MIN = 0.3
TICK = 1.0  #: seconds: motion off-delay checks while no frame comes
STATS_INTERVAL = 10.0  #: seconds between ``detect/stats`` publications
EVENT_PICTURES = 50  #: events whose latest snapshot is kept (API ``/api/events/{id}/snapshot.jpg``)


@dataclass
class _Outcome:
    motion: bool
    events: list[tuple[str, Track]]
    snapshots: dict[str, EventPicture]
    counts: dict[str, int]


class DetectWorker(Service):
    """Detection for one camera (task ``camera[<id>].detect``); an async context manager.

    ``on_update`` is called on the event loop with each :class:`DetectUpdate`. :meth:`set_enabled`
    is the run-time switch (``{base}/{camera}/detect/set``), starting at ``enabled`` (the saved
    switch); ``save_switch(on)``, if given, saves each change: it blocks (SQLite), so it runs in
    the detection thread, and leaving the worker waits for it. When the camera stops streaming
    (a failure, a stall, the camera switched off or stopped), every open event ends with
    ``end_reason`` ``stream_lost``, counts go to 0 and motion off; switching detection off ends
    them with ``detection_off``. Raises :class:`ModelError` on entry when the model cannot be
    loaded.
    """

    def __init__(
        self,
        camera: Camera,
        config: DetectConfig,
        on_update: Callable[[DetectUpdate], None],
        *,
        capture_root: Path,
        snapshot_width: int | None = None,
        snapshot_quality: int = 85,
        enabled: bool = True,
        clip_root: Path | None = None,
        event_urls: bool = False,
        save_switch: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__()
        self._camera = camera
        self.config = config
        self._deliver = on_update
        #: event payloads carry ``snapshot_url``/``clip_url`` (the API serves them)
        self._event_urls = event_urls
        self._clips = (
            ClipRecorder(
                camera, config.clips, Path(config.clips.dir) if config.clips.dir else clip_root, self._held_ended
            )
            if config.clips.enabled and clip_root is not None
            else None
        )
        # the snapshot stream's keyframes, when it is not the detect stream (event snapshots)
        camera.keep_keyframes()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"detect[{camera.id}]")
        self._detector: Detector | None = None
        self._motion = MotionDetector(config.motion, config.mask)
        self._tracker = Tracker(config)
        self._capture = TrainingCapture(camera.id, config.capture, Path(config.capture.dir or capture_root))
        self._mask: np.ndarray | None = None
        self._sub: Subscription | None = None
        self._wake = asyncio.Event()
        self._best = BestSnapshots(snapshot_width, snapshot_quality)
        self.stats = DetectStats()
        self.enabled = enabled
        self._save_switch = save_switch
        self._saving: Future[None] | None = None
        self._ending: asyncio.Future[Any] | None = None
        self._closed = False
        self._streaming = False
        self.motion = False
        self._last_motion = float("-inf")
        self._stats_at = float("-inf")
        self.counts: dict[str, int] = dict.fromkeys(config.objects, 0)
        #: the latest best snapshot per label (re-published on reconnect), and its crop
        self.snapshots: dict[str, bytes] = {}
        self.crops: dict[str, bytes] = {}
        #: the latest snapshot of the most recent events, by event id (oldest first, bounded)
        self.event_pictures: dict[str, EventPicture] = {}
        #: the latest payload of the most recent events, by event id (oldest first, bounded)
        self.recent_events: dict[str, dict[str, Any]] = {}

    @property
    def camera_id(self) -> str:
        """The camera's id."""
        return self._camera.id

    def set_enabled(self, on: bool) -> None:
        """Turn detection on or off at run time; off ends every event and stops decoding every
        frame. Publishes the new state."""
        if on == self.enabled:
            self._on_update(DetectUpdate(self._camera.id, enabled=on))
            return
        self.enabled = on
        if self._save_switch is not None:
            self._saving = self._executor.submit(self._save_switch, on)
        update = DetectUpdate(self._camera.id, enabled=on)
        if on:
            self._subscribe()
        else:
            if self._sub is not None:
                self._camera.unsubscribe(self._sub)
                self._sub = None
            self._end_all(DETECTION_OFF)
            self._reset(update)
        _LOGGER.info("camera %s: detection %s", self._camera.id, "on" if on else "off")
        self._on_update(update)
        self._wake.set()

    def _reset(self, update: DetectUpdate) -> None:
        """Counts to 0 and motion off (in ``update``): nothing is seen any more."""
        self.counts = dict.fromkeys(self.config.objects, 0)
        update.counts = dict(self.counts)
        self._last_motion = float("-inf")  # no off delay left to run: it would turn motion on again
        if self.motion:
            self.motion, update.motion = False, False

    def _end_all(self, reason: str) -> None:
        """End every open event with ``reason``: in the detection thread, after any frame still
        being processed (the tracker's owner); leaving the worker waits for it."""
        if self._closed:
            return
        ending = asyncio.wrap_future(self._executor.submit(self._tracker.end_all, time.time(), reason))
        ending.add_done_callback(self._ended)  # before any waiter: published when it is done
        self._ending = ending

    def _on_update(self, update: DetectUpdate) -> None:
        """Hand ``update`` on: event payloads get their URLs, ``end`` events of a camera with
        clips are held until the clip is written (:class:`~bridge.detect.clips.ClipRecorder`)."""
        if update.events and self._clips is not None:
            update.events = self._clips.route(update.events)
        self._add_urls(update.events)
        self._remember(update.events)
        self._deliver(update)

    def _held_ended(self, events: list[dict[str, Any]]) -> None:
        self._add_urls(events)
        self._remember(events)
        self._deliver(DetectUpdate(self._camera.id, events=events))

    def _remember(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            event_id = str(event.get("id"))
            self.recent_events.pop(event_id, None)
            self.recent_events[event_id] = event
            while len(self.recent_events) > EVENT_PICTURES * 4:
                del self.recent_events[next(iter(self.recent_events))]

    def _add_urls(self, events: list[dict[str, Any]]) -> None:
        if not self._event_urls:
            return
        for event in events:
            if str(event.get("id")) in self.event_pictures:
                event["snapshot_url"] = f"/api/events/{event['id']}/snapshot.jpg"

    @property
    def clip_recorder(self) -> ClipRecorder | None:
        """The camera's clip recorder (None without ``detect.clips``)."""
        return self._clips

    def _ended(self, future: asyncio.Future[list[tuple[str, Track]]]) -> None:
        """Publish the ``end`` events of the objects tracked when detection was turned off or
        the stream was lost."""
        if future.cancelled() or future.exception() is not None:
            return
        events = [track.payload(kind, track.end_time or time.time()) for kind, track in future.result()]
        if events:
            self._on_update(DetectUpdate(self._camera.id, events=events))

    def _on_camera_state(self, camera: Camera) -> None:
        """The camera's stream went away (a failure, a stall, the camera switched off or
        stopped): every open event ends (``stream_lost``), counts go to 0, motion off."""
        streaming = camera.state is CameraState.STREAMING
        if streaming or not self._streaming:
            self._streaming = streaming
            return
        self._streaming = False
        if not self.enabled:
            return  # switched off: ended already
        update = DetectUpdate(self._camera.id)
        self._reset(update)
        self._end_all(STREAM_LOST)
        _LOGGER.debug("camera %s: stream lost, detection events ended", self._camera.id)
        self._on_update(update)

    def _subscribe(self) -> None:
        self._sub = self._camera.subscribe(Need(keyframes_only=False, max_fps=self.config.fps), "detect")

    async def _start(self) -> None:
        try:
            self._detector = await asyncio.get_running_loop().run_in_executor(self._executor, load, self.config)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        if self.enabled:
            self._subscribe()
        self._camera.add_listener(self._on_camera_state)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {f"camera[{self._camera.id}].detect": self._run()}

    async def _finish(self) -> None:
        if self._sub is not None:
            self._camera.unsubscribe(self._sub)
            self._sub = None
        if self._saving is not None and not self._saving.done():  # a switch made just before
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(self._saving)
        if self._ending is not None:  # events ended just before (the camera stopped first)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._ending)
        if self._clips is not None:
            await self._clips.close()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        warned = False
        while True:
            sub = self._sub
            if sub is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK):
                        await self._wake.wait()
                self._tick()
                continue
            try:
                async with asyncio.timeout(TICK):
                    frame = await sub.next()
            except TimeoutError:
                self._tick()
                continue
            if sub is not self._sub or not self._streaming:
                continue  # turned off while waiting, or a frame from before the stream was lost
            try:
                outcome = await loop.run_in_executor(self._executor, self._process, frame)
            except ValueError as err:  # an MJPEG frame that does not decode
                _LOGGER.log(
                    logging.DEBUG if warned else logging.WARNING,
                    "camera %s: detection frame skipped: %s",
                    self._camera.id,
                    err,
                )
                warned = True
                continue
            warned = False
            if self._sub is sub and self._streaming:  # not a result from before a loss
                self._apply(outcome, frame)
            elif outcome.events:
                # switched off (or the stream lost) while this frame was processed: the tracker
                # moved on with it (an object confirmed, one that left), and its ``end_all`` ran
                # after it, so these events still go out, before the ends (a lost ``end`` would
                # leave its event open for ever, and hold the camera's clip and ended events)
                events = [track.payload(kind, frame.time) for kind, track in outcome.events]
                for event in events:
                    if event["type"] != "end":  # as of this frame: the end comes with its own event
                        event["end_time"] = event["end_reason"] = None
                self._on_update(DetectUpdate(self._camera.id, events=events))
            self._tick()

    def _motion_state(self, moving: bool, now: float) -> bool | None:
        """Follow motion with the off delay; the new state when it changed, else None."""
        if moving:
            self._last_motion = now
        on = moving or now - self._last_motion < self.config.motion.off_delay
        if on == self.motion:
            return None
        self.motion = on
        return on

    def _tick(self) -> None:
        """Periodic work while frames come or not: motion off delay, stats."""
        now = time.monotonic()
        update = DetectUpdate(self._camera.id, motion=self._motion_state(False, now))
        if now - self._stats_at >= STATS_INTERVAL:
            self._stats_at = now
            update.stats = self.stats.as_payload()
        if update.motion is not None or update.stats is not None:
            self._on_update(update)

    def _apply(self, outcome: _Outcome, frame: Frame) -> None:
        update = DetectUpdate(
            self._camera.id,
            snapshots={k: p.jpeg for k, p in outcome.snapshots.items()},
            crops={k: p.crop for k, p in outcome.snapshots.items()},
        )
        for pic in outcome.snapshots.values():
            self.event_pictures.pop(pic.event_id, None)
            self.event_pictures[pic.event_id] = pic
            while len(self.event_pictures) > EVENT_PICTURES:
                del self.event_pictures[next(iter(self.event_pictures))]
        update.motion = self._motion_state(outcome.motion, frame.monotonic)
        update.events = [track.payload(kind, frame.time) for kind, track in outcome.events]
        if outcome.counts != self.counts:
            self.counts = update.counts = outcome.counts
        self.snapshots.update(update.snapshots)
        self.crops.update(update.crops)
        if update.events or update.motion is not None or update.counts is not None or update.snapshots:
            self._on_update(update)

    # -- detection thread ------------------------------------------------------------------

    def _process(self, frame: Frame) -> _Outcome:
        cfg = self.config
        started = time.perf_counter()
        max_width = min(cfg.width, round(cfg.height * frame.width / max(1, frame.height)))
        image = frame.bgr(max_width)
        height, width = image.shape[:2]
        moving = self._motion.update(image)
        if not moving and not self._tracker.tracks and cfg.motion.gate:
            self.stats.skipped += 1
            self.stats.frame(time.perf_counter() - started)
            return _Outcome(False, [], {}, self._tracker.counts())
        boxes = moving + [t.box for t in self._tracker.tracks]
        x1, y1, x2, y2 = self._region(boxes, width, height) if boxes else (0, 0, width, height)
        min_score = min(cfg.min_score_for(label) for label in cfg.objects)
        assert self._detector is not None
        inference_started = time.perf_counter()
        found = self._detector.detect(image[y1:y2, x1:x2], min_score)
        self.stats.inference(time.perf_counter() - inference_started)
        if cfg.mask and (self._mask is None or self._mask.shape != (height, width)):
            self._mask = polygon_mask(cfg.mask, width, height)
        detections: list[tuple[str, float, Box]] = []
        for det in found:
            if det.label not in cfg.objects or det.score < cfg.min_score_for(det.label):
                continue
            bx1, by1, bx2, by2 = det.box
            box = ((bx1 + x1) / width, (by1 + y1) / height, (bx2 + x1) / width, (by2 + y1) / height)
            foot = (min(width - 1, int((box[0] + box[2]) / 2 * width)), min(height - 1, int(box[3] * height)))
            if self._mask is not None and self._mask[foot[1], foot[0]] == 0:
                continue
            detections.append((det.label, det.score, box))
        events = self._tracker.update(detections, frame.time)
        for kind, track in events:
            self.stats.events[(track.label, kind)] += 1
        snapshots = self._best.make(frame, events, time.monotonic(), self._camera.snapshot_picture)
        self._capture.offer(
            image,
            [
                {"label": label, "score": round(score, 4), "box": [round(v, 4) for v in box]}
                for label, score, box in detections
            ],
            frame.time,
        )
        self.stats.frame(time.perf_counter() - started)
        return _Outcome(bool(moving), events, snapshots, self._tracker.counts())

    @staticmethod
    def _region(boxes: list[Box], width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel region to run the detector on: the union of ``boxes`` (relative) with a margin,
        grown to at least ``REGION_MIN`` of the frame, or the whole frame when large."""
        x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        mx, my = (x2 - x1) * REGION_MARGIN, (y2 - y1) * REGION_MARGIN
        x1, y1, x2, y2 = x1 - mx, y1 - my, x2 + mx, y2 + my
        if (x2 - x1) * (y2 - y1) > REGION_FRACTION:
            return 0, 0, width, height
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half_w = max(x2 - x1, REGION_MIN * height / width) / 2
        half_h = max(y2 - y1, REGION_MIN) / 2
        x1, x2 = max(0.0, cx - half_w), min(1.0, cx + half_w)
        y1, y2 = max(0.0, cy - half_h), min(1.0, cy + half_h)
        return (
            int(x1 * width),
            int(y1 * height),
            max(int(x1 * width) + 2, round(x2 * width)),
            max(int(y1 * height) + 2, round(y2 * height)),
        )
