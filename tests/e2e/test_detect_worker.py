"""The detection stage frame by frame (``DetectWorker`` with the real motion detector, tracker
and detectors; the detector is only observed, to see which pixels it was given): the detector
runs on the motion region, or the whole frame when the region is large; it keeps running while
objects are tracked though nothing moves; ``motion`` turns OFF only after ``off_delay``; the best
snapshot is renewed when an event's score improves."""

from __future__ import annotations

import av
import cv2
import numpy as np

from bridge.camera import Camera
from bridge.capture import Frame
from bridge.config import parse
from bridge.detect import best
from bridge.detect.best import BestSnapshots
from bridge.detect.detector import load
from bridge.detect.tracker import Track
from bridge.detect.worker import DetectUpdate, DetectWorker

from .test_detect_images import MEDIA, MODEL

GREY = 90
T0 = 1_700_000_000.0  #: wall-clock time of the first frame


class Observed:
    """The real detector, with the pictures it was given kept."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.images: list[np.ndarray] = []

    def detect(self, image: np.ndarray, min_score: float):
        self.images.append(image.copy())
        return self.inner.detect(image, min_score)


def worker_for(tmp_path, detect: dict) -> tuple[DetectWorker, Observed, list[DetectUpdate]]:
    text = "mqtt: {host: h}\ncameras:\n  cam: " + repr(
        {"url": "rtsp://192.0.2.1/s", "detect": {"enabled": True, **detect}}).replace("'", '"')
    cam = parse(text, {}).cameras["cam"]
    updates: list[DetectUpdate] = []
    worker = DetectWorker(Camera(cam), cam.detect, updates.append, capture_root=tmp_path)
    observed = Observed(load(cam.detect))
    worker._detector = observed
    return worker, observed, updates


def frame_of(image: np.ndarray, n: int, interval: float = 0.2) -> Frame:
    """Frame number ``n`` of a camera giving one every ``interval`` seconds."""
    h, w = image.shape[:2]
    return Frame(T0 + n * interval, 1000.0 + n * interval, w, h, True,
                 av_frame=av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24"))


def feed(worker: DetectWorker, frame: Frame):
    """What the worker's loop does with one frame (processing, then applying the outcome)."""
    outcome = worker._process(frame)
    worker._apply(outcome, frame)
    return outcome


def scene(patch: tuple[int, int, int, int] | None = None, w: int = 640, h: int = 360) -> np.ndarray:
    """A grey picture, with a white rectangle ``(x1, y1, x2, y2)`` pixels."""
    image = np.full((h, w, 3), GREY, np.uint8)
    if patch:
        x1, y1, x2, y2 = patch
        image[y1:y2, x1:x2] = 255
    return image


def test_detector_runs_on_the_motion_region_or_the_whole_frame_when_it_is_large(tmp_path):
    worker, observed, _ = worker_for(tmp_path, {"width": 640, "height": 360})
    feed(worker, frame_of(scene(), 0))  # the background
    assert observed.images == [], "no motion, nothing tracked: no detector run"

    feed(worker, frame_of(scene((40, 40, 90, 90)), 1))  # something small, top left
    crop = observed.images[-1]
    assert crop.shape[0] < 360 and crop.shape[1] < 640, "a small motion: only its region is searched"
    assert crop.shape[0] * crop.shape[1] <= 0.5 * 640 * 360
    assert (crop == 255).all(axis=2).sum() == 50 * 50, "the region holds the whole moving thing"

    feed(worker, frame_of(scene((400, 250, 450, 300)), 2))  # it moved to the bottom right
    crop = observed.images[-1]
    assert crop.shape[:2] != (360, 640) and (crop == 255).all(axis=2).sum() == 50 * 50

    runs = len(observed.images)
    feed(worker, frame_of(scene((60, 40, 480, 320)), 3))  # half of the picture changes
    assert len(observed.images) == runs + 1
    assert observed.images[-1].shape[:2] == (360, 640), "a large region: the whole frame"


def test_detector_keeps_running_while_objects_are_tracked_without_motion(tmp_path):
    """A person who stands still: once the background has learnt them there is no motion, but
    the detector must go on (otherwise the event would end while they are there)."""
    worker, observed, updates = worker_for(tmp_path, {"model": str(MODEL), "width": 640, "height": 480,
                                                      "motion": {"learning_rate": 0.5}})
    person = cv2.resize(cv2.imread(str(MEDIA / "grace_hopper.bmp")), (300, 350))
    empty = scene(w=640, h=480)
    there = empty.copy()
    there[65:415, 170:470] = person
    feed(worker, frame_of(empty, 0))
    outcomes = [feed(worker, frame_of(there, n)) for n in range(1, 30)]
    still = [n for n, out in enumerate(outcomes, 1) if not out.motion]
    assert len(still) >= 15, "the background did not learn the still person"
    assert worker._tracker.tracks and worker.counts["person"] == 1
    assert worker.stats.skipped == 1, "frames without motion were skipped while a person was tracked"
    assert len(observed.images) == 29
    events = [e for u in updates for e in u.events]
    assert [e["type"] for e in events] == ["new"], "one event, not ended while the person stays"


def test_motion_turns_off_only_after_the_off_delay(tmp_path):
    worker, _, updates = worker_for(tmp_path, {"width": 640, "height": 360,
                                               "motion": {"off_delay": 2.0, "learning_rate": 0.5}})
    feed(worker, frame_of(scene(), 0))
    changes, moving = [], []  # (frame number, new motion state); frames with motion
    for n in range(1, 40):  # 0.2 s apart: a thing appears at frame 1 and stays
        before = len(updates)
        if feed(worker, frame_of(scene((200, 100, 260, 160)), n)).motion:
            moving.append(n)
        changes += [(n, u.motion) for u in updates[before:] if u.motion is not None]
    assert moving and moving[0] == 1 and max(moving) < 20, "the background learns the still thing"
    off_frame = max(moving) + 10  # 10 frames of 0.2 s = off_delay
    assert changes == [(1, True), (off_frame, False)], "OFF exactly off_delay after the last motion"


def test_best_snapshot_is_renewed_when_the_score_improves():
    image = cv2.imread(str(MEDIA / "grace_hopper.bmp"))
    frame = frame_of(image, 0)
    snaps = BestSnapshots()
    track = Track("1-1", "person", (0.2, 0.1, 0.8, 0.95), 0.6, T0, top_score=0.6)
    first = snaps.make(frame, [("new", track)], now=10.0)
    assert list(first) == ["person"] and track.snapshot_available
    assert cv2.imdecode(np.frombuffer(first["person"].jpeg, np.uint8), cv2.IMREAD_COLOR).shape == image.shape

    track.top_score = track.score = 0.6 + best.SCORE_GAIN / 2  # hardly better: no new picture
    assert snaps.make(frame, [("update", track)], now=12.0) == {}
    track.top_score = track.score = 0.8  # better, but within MIN_INTERVAL of the last picture
    assert snaps.make(frame, [("update", track)], now=10.5) == {}
    again = snaps.make(frame, [("update", track)], now=11.5)
    assert list(again) == ["person"] and again["person"].jpeg != first["person"].jpeg, "a fresh picture (80 %)"
    assert snaps.make(frame, [("update", track)], now=13.0) == {}, "the same score: not again"

    other = Track("1-2", "person", (0.1, 0.1, 0.3, 0.5), 0.5, T0, top_score=0.5)
    assert snaps.make(frame, [("update", other)], now=14.0) == {}, "a weaker other person: kept"
    assert list(snaps.make(frame, [("new", other)], now=14.0)) == ["person"], "a new event: always"
