"""OpenCV's HOG people detector (Dalal & Triggs, CVPR 2005, with OpenCV's default linear SVM):
the detector that needs no model file, so detection works on a fresh install.

It finds upright, roughly whole people at least 64x128 pixels (smaller ones are missed; the
image is upscaled when it is small). Its SVM margin ``w`` becomes a 0..1 score with a logistic
``1 / (1 + exp(-2 * w))`` (margin 0 -> 0.5, 1 -> 0.88), so the same ``min_score``/``threshold``
options apply as for the ONNX models; it reports ``person`` only.
"""

from __future__ import annotations

import cv2
import numpy as np

from .detector import Detection, nms

#: images narrower than this are upscaled first (people of ~100 px become detectable)
MIN_WIDTH = 640
NMS_IOU = 0.45


class HogDetector:
    """``person`` detector on OpenCV's built-in HOG + linear SVM; not thread-safe."""

    name: str = "opencv_hog"
    labels: tuple[str, ...] = ("person",)

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray, min_score: float) -> list[Detection]:
        """People in ``image`` (``HxWx3 uint8 BGR``) scoring at least ``min_score`` (0..1),
        boxes in its pixels. Blocking: roughly 50-150 ms for 640x360 on one core."""
        scale = 1.0
        if image.shape[1] < MIN_WIDTH:
            scale = MIN_WIDTH / image.shape[1]
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        rects, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        scores = 1.0 / (1.0 + np.exp(-2.0 * np.asarray(weights, np.float32).reshape(-1)))
        boxes = np.concatenate((rects[:, :2], rects[:, :2] + rects[:, 2:]), 1) / scale
        keep = [i for i in nms(boxes, scores, np.zeros(len(scores), int), NMS_IOU) if scores[i] >= min_score]
        return [
            Detection("person", float(scores[i]), tuple(float(v) for v in boxes[i]))  # type: ignore[arg-type]
            for i in keep
        ]
