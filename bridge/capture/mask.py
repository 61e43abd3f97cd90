"""Privacy masks: polygons filled black in every picture the bridge publishes or stores, and
before motion and object detection, so nothing inside them is seen or detected.

Polygons are in normalized coordinates (``x`` from 0 at the left edge to 1 at the right edge,
``y`` from 0 at the top to 1 at the bottom), so one mask fits every resolution of a camera.
A pixel is masked when its centre is inside a polygon (even-odd rule). The rasters are made
with numpy (one pass per polygon edge; ~10 ms for a 1080p picture) and cached per picture size.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]
Polygon = tuple[Point, ...]

#: rasters kept per mask (picture sizes seen: full size, scaled snapshot, chroma planes, ...)
_CACHE_SIZES = 8


def raster(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """An ``HxW bool`` array, true where a pixel's centre lies inside one of ``polygons``
    (even-odd rule per polygon, union over polygons). ``width``/``height`` in pixels."""
    out = np.zeros((height, width), dtype=bool)
    ys = (np.arange(height, dtype=np.float64) + 0.5) / height
    xs = (np.arange(width, dtype=np.float64) + 0.5) / width
    for polygon in polygons:
        inside = np.zeros((height, width), dtype=bool)
        for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
            if y1 == y2:
                continue
            rows = (ys >= min(y1, y2)) & (ys < max(y1, y2))
            if not rows.any():
                continue
            cross = x1 + (ys[rows] - y1) * (x2 - x1) / (y2 - y1)  # the edge's x on each row
            inside[rows] ^= xs[None, :] < cross[:, None]
        out |= inside
    return out


class PrivacyMask:
    """The privacy masks of one camera; thread-safe (encoder and detection threads share it)."""

    def __init__(self, polygons: Sequence[Polygon]) -> None:
        self.polygons = tuple(tuple((float(x), float(y)) for x, y in p) for p in polygons)
        self._rasters: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def at(self, width: int, height: int) -> np.ndarray:
        """The ``HxW bool`` raster for a picture of ``width`` x ``height`` pixels (cached)."""
        key = (width, height)
        with self._lock:
            found = self._rasters.get(key)
        if found is None:
            found = raster(self.polygons, width, height)
            with self._lock:
                if len(self._rasters) >= _CACHE_SIZES:
                    self._rasters.pop(next(iter(self._rasters)))
                self._rasters[key] = found
        return found

    def apply_bgr(self, image: np.ndarray) -> np.ndarray:
        """Fill the masked pixels of an ``HxWx3 uint8 BGR`` (or ``HxW`` grey) image with black,
        in place when it is writeable (else on a copy); returns the image."""
        if not image.flags.writeable:
            image = image.copy()
        image[self.at(image.shape[1], image.shape[0])] = 0
        return image

    def apply_planes(
        self, planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fill the masked pixels of full-range 4:2:0 ``(Y, Cb, Cr)`` planes with black (Y 0,
        Cb and Cr 128), on copies (the planes may be views of a decoder's buffers); a chroma
        sample is masked when its centre is inside a polygon, so edges match the luma's to one
        pixel."""
        y, cb, cr = (np.array(p) for p in planes)
        y[self.at(y.shape[1], y.shape[0])] = 0
        chroma = self.at(cb.shape[1], cb.shape[0])
        cb[chroma] = 128
        cr[chroma] = 128
        return y, cb, cr
