"""Detectors on real pictures: the ONNX model (YOLOX-Nano) on the shared images, OpenCV's HOG
on frames of the pedestrians footage, and the motion detector on real frames."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from bridge.config.detect import MotionConfig
from bridge.detect.hog import HogDetector
from bridge.detect.motion import MotionDetector
from bridge.detect.onnx import OnnxDetector

from ..peers import PEDESTRIANS, SHARED

MEDIA = SHARED / "media"
MODEL = SHARED / "models" / "yolox_nano.onnx"
MIN_SCORE = 0.35


@pytest.fixture(scope="module")
def onnx() -> OnnxDetector:
    return OnnxDetector(str(MODEL), threads=1)


def pedestrian_frames(step: int = 50, count: int = 4) -> list[np.ndarray]:
    frames = []
    with av.open(str(PEDESTRIANS)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == count:
                break
    return frames


def persons(detections) -> list:
    return [d for d in detections if d.label == "person"]


@pytest.mark.parametrize(("image", "at_least", "at_most"), [
    ("grace_hopper.bmp", 1, 1),
    ("squat.bmp", 1, 1),
    ("kite_and_cold.jpg", 5, 10),
    ("cat.bmp", 0, 0),
    ("pets.jpg", 0, 0),
    ("bird.bmp", 0, 0),
])
def test_onnx_finds_the_people_in_the_shared_images(onnx, image, at_least, at_most):
    picture = cv2.imread(str(MEDIA / image), cv2.IMREAD_COLOR)
    found = onnx.detect(picture, MIN_SCORE)
    people = persons(found)
    assert at_least <= len(people) <= at_most, [(d.label, round(d.score, 2)) for d in found]
    height, width = picture.shape[:2]
    for det in found:
        x1, y1, x2, y2 = det.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height and MIN_SCORE <= det.score <= 1


def test_onnx_boxes_are_in_image_pixels_and_other_classes_are_named(onnx):
    picture = cv2.imread(str(MEDIA / "grace_hopper.bmp"), cv2.IMREAD_COLOR)
    person = persons(onnx.detect(picture, MIN_SCORE))[0]
    x1, y1, x2, y2 = person.box
    # she fills most of the portrait: the box covers most of its width and reaches the bottom
    assert (x2 - x1) > 0.6 * picture.shape[1] and y2 > 0.9 * picture.shape[0]
    pets = onnx.detect(cv2.imread(str(MEDIA / "pets.jpg"), cv2.IMREAD_COLOR), MIN_SCORE)
    assert {d.label for d in pets} & {"dog", "cat"}
    assert onnx.detect(picture, 0.99) == []  # min_score is applied


def test_onnx_letterboxes_any_aspect_ratio(onnx):
    picture = cv2.imread(str(MEDIA / "grace_hopper.bmp"), cv2.IMREAD_COLOR)
    wide = cv2.copyMakeBorder(picture, 0, 0, 400, 400, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    person = persons(onnx.detect(wide, MIN_SCORE))[0]
    assert 380 < person.box[0] and person.box[2] < 400 + picture.shape[1] + 20


def test_hog_finds_people_in_pedestrian_frames():
    hog = HogDetector()
    counts = [len(hog.detect(cv2.resize(f, (640, 360)), 0.5)) for f in pedestrian_frames()]
    assert sum(counts) >= 3 and sum(1 for c in counts if c) >= 2, counts
    for image in ("cat.bmp", "pets.jpg"):  # (HOG is weaker than a CNN: bird.bmp fools it)
        assert hog.detect(cv2.imread(str(MEDIA / image), cv2.IMREAD_COLOR), 0.5) == [], image


def test_onnx_finds_many_people_in_a_pedestrian_frame(onnx):
    frame = pedestrian_frames(count=1)[0]
    assert len(persons(onnx.detect(frame, MIN_SCORE))) >= 10


def test_motion_detector_sees_walkers_not_a_still_picture():
    motion = MotionDetector(MotionConfig())
    frames = pedestrian_frames(step=5, count=6)
    boxes = [motion.update(f) for f in frames]
    assert boxes[0] == [] and all(boxes[1:]), "walking people are motion"
    still = MotionDetector(MotionConfig())
    cat = cv2.resize(cv2.imread(str(MEDIA / "cat.bmp"), cv2.IMREAD_COLOR), (1280, 720))
    noisy = [np.clip(cat.astype(np.int16) + np.random.default_rng(i).integers(-6, 7, cat.shape), 0, 255)
             .astype(np.uint8) for i in range(10)]
    assert all(still.update(f) == [] for f in noisy), "sensor noise is not motion"
    masked = MotionDetector(MotionConfig(), mask=(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),))
    assert all(masked.update(f) == [] for f in frames), "a mask over everything hides all motion"
