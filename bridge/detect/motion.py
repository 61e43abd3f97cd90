"""Cheap motion detection: a running-average background on a small grayscale frame.

Per frame: downscale to ``motion.width`` pixels wide, grey, blur; the absolute difference to the
background (``cv2.accumulateWeighted`` running average, learning rate ``motion.learning_rate``)
is thresholded at ``motion.threshold`` grey levels, masked, dilated, and its external contours of
at least ``motion.min_area`` pixels are the motion regions. The classic background-subtraction
scheme (e.g. PyImageSearch's "basic motion detection", Frigate's ``improved_motion``), without
per-pixel models: about 1 ms per frame at 320x180.
"""

from __future__ import annotations

import numpy as np

from ..config.detect import MotionConfig, Polygon

Box = tuple[float, float, float, float]

#: a change over this fraction of the frame is a global one (lights, IR switch, camera moved):
#: the background is reset to the new picture and no motion is reported
GLOBAL_CHANGE = 0.7
BLUR = (5, 5)


def polygon_mask(polygons: tuple[Polygon, ...], width: int, height: int) -> np.ndarray | None:
    """``HxW uint8`` mask, 0 inside any of ``polygons`` (relative coordinates), 255 elsewhere;
    None when there are no polygons."""
    import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

    if not polygons:
        return None
    mask = np.full((height, width), 255, np.uint8)
    for poly in polygons:
        points = np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in poly], np.int32)
        cv2.fillPoly(mask, [points], 0)
    return mask


class MotionDetector:
    """Finds moving regions in successive frames of one camera (not thread-safe)."""

    def __init__(self, config: MotionConfig, mask: tuple[Polygon, ...] = ()) -> None:
        self._config = config
        self._mask_polygons = mask
        self._mask: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self.frames = 0

    def update(self, image: np.ndarray) -> list[Box]:
        """Motion regions of ``image`` (``HxWx3 uint8 BGR``, any size) as relative boxes
        ``(x1, y1, x2, y2)`` in 0..1; empty for the first frame (it becomes the background) and
        after a global change (the background is reset)."""
        import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

        cfg = self._config
        height = max(8, round(image.shape[0] * cfg.width / image.shape[1]))
        small = cv2.resize(image, (cfg.width, height), interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), BLUR, 0)
        self.frames += 1
        if self._background is None or self._background.shape != gray.shape:
            self._background = gray.astype(np.float32)
            self._mask = polygon_mask(self._mask_polygons, cfg.width, height)
            return []
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        _, moving = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)
        if self._mask is not None:
            moving = cv2.bitwise_and(moving, self._mask)
        cv2.accumulateWeighted(gray, self._background, cfg.learning_rate)
        if cv2.countNonZero(moving) > GLOBAL_CHANGE * moving.size:
            self._background = gray.astype(np.float32)
            return []
        moving = cv2.dilate(moving, None, iterations=2)
        contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[Box] = []
        for contour in contours:
            if cv2.contourArea(contour) < cfg.min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append((x / cfg.width, y / height, (x + w) / cfg.width, (y + h) / height))
        return boxes
