"""JPEG pictures straight from a decoded frame's YUV planes (libjpeg-turbo via simplejpeg).

The decoder's picture is already Y'CbCr, which is what a JPEG stores: no conversion to BGR and
back. What is left to do is done by swscale (PyAV ``reformat``), in one pass and only when
needed: downscaling (``max_width``), other pixel formats (4:2:2, 4:4:4, 10-bit, NV12...) to
8-bit planar 4:2:0, and limited ("TV", 16-235) range to the full range (0-255) that JFIF
decoders assume. The colour matrix is left as the source has it (JFIF assumes BT.601; HD cameras
often tag BT.709): converting it in swscale costs more than the whole BGR path (measured ~7 ms
per 1080p picture with PyAV 18 / FFmpeg 8), and on camera footage the difference is small (see
docs/performance.md, "Snapshots from YUV").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import simplejpeg

if TYPE_CHECKING:
    import av

#: pixel formats whose 8-bit planes are 4:2:0 as they are; ``yuvj420p`` is full range by name
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
#: av.video.reformatter.ColorRange values (FFmpeg's AVColorRange)
RANGE_UNSPECIFIED, RANGE_MPEG, RANGE_JPEG = 0, 1, 2

#: swscale's filter when only the range or pixel format changes, not the size: its fast bilinear
#: path is SIMD and takes ~1.0 ms for a 1080p picture where the exact POINT path takes ~1.8 ms
#: (FFmpeg 8); it differs from the exact range mapping by at most a few levels on ~1 % of the
#: pixels (mean 0.07 levels, measured on the shared footage), well below JPEG's own error
SAME_SIZE = "FAST_BILINEAR"

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def full_range(frame: av.VideoFrame) -> bool:
    """Whether ``frame``'s samples use the full 0-255 range (``yuvj*`` formats, or tagged
    ``color_range`` JPEG); unspecified counts as limited, as swscale and the BGR path take it."""
    return frame.format.name.startswith("yuvj") or frame.color_range == RANGE_JPEG


def planes420(frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> Planes:
    """``frame`` as full-range 8-bit planar 4:2:0: ``(Y, Cb, Cr)`` ``uint8`` arrays of shapes
    ``(height, width)``, ``(ceil(height/2), ceil(width/2))`` twice (views of the frame's buffers,
    row stride kept), scaled to ``width`` x ``height`` pixels with an area filter when given.
    A full-range 4:2:0 frame of the right size is used as it is (no copy); anything else takes
    one swscale pass (single-threaded: the bridge runs several encoder threads already).
    Blocking (~1 ms for a limited-range 1080p picture, see :data:`SAME_SIZE`)."""
    width, height = width or frame.width, height or frame.height
    full = full_range(frame)
    if not (frame.format.name in PLANAR_420 and full and (width, height) == (frame.width, frame.height)):
        frame = frame.reformat(
            width=width,
            height=height,
            format="yuv420p",
            src_color_range=RANGE_JPEG if full else RANGE_MPEG,
            dst_color_range=RANGE_JPEG,
            interpolation="AREA" if (width, height) != (frame.width, frame.height) else SAME_SIZE,
            threads=1,
        )
    out = []
    for plane in frame.planes[:3]:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width])
    return out[0], out[1], out[2]


def encode_planes(planes: Planes, quality: int) -> bytes:
    """JFIF bytes of full-range 4:2:0 ``planes`` (as from :func:`planes420`) at JPEG
    ``quality`` 1-100 (libjpeg-turbo; releases the GIL). Raises ``ValueError`` when libjpeg
    refuses them."""
    try:
        return simplejpeg.encode_jpeg_yuv_planes(*planes, quality=quality)
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"JPEG encode failed: {err}") from None


def encode_bgr(image: np.ndarray, quality: int) -> bytes:
    """JFIF bytes (4:2:0) of an ``HxWx3 uint8 BGR`` array at JPEG ``quality`` 1-100 (for
    pictures that were drawn on). Raises ``ValueError`` when it cannot be encoded."""
    try:
        return simplejpeg.encode_jpeg(
            np.ascontiguousarray(image), quality=quality, colorspace="BGR", colorsubsampling="420"
        )
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"JPEG encode failed: {err}") from None


def decode_bgr(jpeg: bytes) -> np.ndarray:
    """An ``HxWx3 uint8 BGR`` array from JPEG bytes. Raises ``ValueError`` when they do not
    decode."""
    try:
        return simplejpeg.decode_jpeg(jpeg, colorspace="BGR")
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"MJPEG frame does not decode as JPEG: {err}") from None
