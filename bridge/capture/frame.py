"""Frames handed from a capture thread to consumers, and the subscriptions that carry them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import picture
from .mask import PrivacyMask

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class Need:
    """What a consumer needs from a camera.

    ``keyframes_only``: true for snapshot-like consumers; the source then decodes keyframes only
    (one decode per GOP) while no consumer needs more. ``max_fps``: at most this many frames per
    second are handed over (frames above the rate are dropped before any colour conversion).
    """

    keyframes_only: bool = True
    max_fps: float | None = None


@dataclass(eq=False)
class Frame:
    """One picture from a camera, converted lazily.

    Exactly one of ``av_frame`` (decoded PyAV frame), ``jpeg`` (the camera's own JPEG, from an
    MJPEG source, never decoded unless asked) and ``packet`` (a compressed keyframe with the
    ``decode`` function that turns it into a picture, called by the first consumer that asks: a
    keyframe waiting for a busy consumer holds ~100 KiB, not a decoded picture) is set. ``time``
    is the wall-clock arrival time (seconds since the epoch) of the packet that gave the frame,
    taken before any decode, so latencies measured from it include the decode; ``monotonic`` the
    same on the monotonic clock; ``width`` and ``height`` are pixels. With ``mask`` (the camera's
    privacy masks), :meth:`bgr` and :meth:`yuv420` give masked pictures and :attr:`passthrough`
    is None: the camera's own JPEG is never published as it is.
    """

    time: float
    monotonic: float
    width: int
    height: int
    keyframe: bool
    av_frame: av.VideoFrame | None = None
    jpeg: bytes | None = None
    packet: av.Packet | None = None
    decode: Callable[[av.Packet], av.VideoFrame | None] | None = None
    #: the camera's privacy masks, filled black in every picture this frame gives
    mask: PrivacyMask | None = None
    #: whether more than one consumer may take this frame (set by the camera when it hands it
    #: over). When False, a keyframe's decoded picture is not kept in the frame: it is freed as
    #: soon as the consumer's planes or array are made, not held through the JPEG encode (a
    #: 1080p picture is ~3 MiB, one per encoder thread); a second call decodes again
    shared: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _decoded(self) -> av.VideoFrame | None:
        """The PyAV picture, decoding the keyframe packet first if needed (under ``_lock``; kept
        in the frame only when :attr:`shared`); None for an MJPEG frame. Raises ``ValueError``
        when the keyframe does not decode."""
        if self.packet is not None:
            assert self.decode is not None
            decoded = self.decode(self.packet)
            if decoded is None:
                raise ValueError("keyframe does not decode")
            if not self.shared:
                return decoded
            self.av_frame, self.packet = decoded, None
        return self.av_frame

    @property
    def passthrough(self) -> bytes | None:
        """The camera's own JPEG to publish as it is (MJPEG sources), or None: when the frame
        is not MJPEG, or privacy masks must be drawn into it."""
        return self.jpeg if self.mask is None else None

    def bgr(self, max_width: int | None = None) -> np.ndarray:
        """The picture as an ``HxWx3 uint8 BGR`` array, downscaled (area filter, aspect kept) to
        at most ``max_width`` pixels wide. Blocking (colour conversion, maybe JPEG decode): call
        it off the event loop. For detection, motion and drawing; JPEGs are made from
        :meth:`yuv420` without BGR. Raises ``ValueError`` when an MJPEG frame or a keyframe
        packet does not decode.
        """
        width, height = scaled_size(self.width, self.height, max_width)
        with self._lock:
            av_frame = self._decoded()
            if av_frame is not None:
                image = av_frame.to_ndarray(width=width, height=height, format="bgr24", interpolation="AREA")
                return image if self.mask is None else self.mask.apply_bgr(image)
            assert self.jpeg is not None
            image = picture.decode_bgr(self.jpeg)
        if (width, height) != image.shape[1::-1]:
            import cv2  # only for a downscaled MJPEG picture

            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return image if self.mask is None else self.mask.apply_bgr(image)

    def yuv420(self, max_width: int | None = None) -> picture.Planes:
        """The picture as full-range 8-bit 4:2:0 planes ``(Y, Cb, Cr)`` (see
        :func:`bridge.capture.picture.planes420`), downscaled in YUV by swscale (area filter,
        aspect kept) to at most ``max_width`` pixels wide: what a JPEG encoder takes as it is.
        Blocking; call it off the event loop. Raises ``ValueError`` when the frame does not
        decode."""
        width, height = scaled_size(self.width, self.height, max_width)
        with self._lock:
            av_frame = self._decoded()
            if av_frame is None:  # an MJPEG frame: decode its JPEG (rare: only when scaled)
                import av

                assert self.jpeg is not None
                av_frame = av.VideoFrame.from_ndarray(picture.decode_bgr(self.jpeg), format="bgr24")
            if (av_frame.width, av_frame.height) != (self.width, self.height):
                width, height = scaled_size(av_frame.width, av_frame.height, max_width)
            planes = picture.planes420(av_frame, width, height)
        return planes if self.mask is None else self.mask.apply_planes(planes)


def scaled_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled down to at most ``max_width`` pixels wide, aspect kept, both
    even (what H.264/JPEG chroma subsampling likes). Unchanged when already narrow enough."""
    if not max_width or width <= max_width:
        return width, height
    new_height = max(2, round(height * max_width / width / 2) * 2)
    return max_width - max_width % 2, new_height


class Subscription:
    """A consumer's mailbox: holds only the newest frame it has not taken yet.

    Created by ``Camera.subscribe``; ``offer`` is called from the capture thread, ``next`` is
    awaited on the event loop. A slow consumer loses frames, it never queues them.
    """

    def __init__(self, need: Need, loop: asyncio.AbstractEventLoop) -> None:
        self.need = need
        self._loop = loop
        self._latest: Frame | None = None
        self._event = asyncio.Event()
        self._last_offer = float("-inf")
        self._force = False
        self.closed = False

    def wants(self, keyframe: bool, now: float) -> bool:
        """Whether a frame arriving at monotonic time ``now`` is for this consumer (any thread)."""
        if self.closed or (self.need.keyframes_only and not keyframe):
            return False
        if self._force:
            return True
        return not (self.need.max_fps and now - self._last_offer < 1.0 / self.need.max_fps * 0.9)

    def offer(self, frame: Frame) -> None:
        """Hand ``frame`` over (capture thread); replaces any frame not yet taken."""
        self._last_offer = frame.monotonic
        self._force = False
        self._loop.call_soon_threadsafe(self._put, frame)

    def force_next(self) -> None:
        """Deliver the next eligible frame whatever the rate limit (e.g. a snapshot request)."""
        self._force = True

    def _put(self, frame: Frame) -> None:
        self._latest = frame
        self._event.set()

    async def next(self) -> Frame:
        """Wait for and return the newest frame not taken yet."""
        while self._latest is None:
            self._event.clear()
            await self._event.wait()
        frame, self._latest = self._latest, None
        return frame

    def close(self) -> None:
        """Stop receiving frames."""
        self.closed = True
