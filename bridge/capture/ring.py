"""Rings of a stream's recent compressed packets (packets, not pixels).

:class:`KeyframeRing` keeps a stream's last N keyframes: event snapshots decode the one nearest in
time to a detection frame, at the stream's full resolution. A ring belongs to one stream's
connection (today the camera's one connection; with several streams per camera, the ``snapshot``
stream's); the capture thread adds to it, any thread reads it. Memory is bounded by the count of
packets kept and reported as :attr:`KeyframeRing.bytes`.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .frame import Frame

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class Codec:
    """What a decoder (or a muxer) of a stream's packets needs: FFmpeg codec name, extradata
    (parameter sets; None when in-band), picture size in pixels."""

    name: str
    extradata: bytes | None
    width: int
    height: int


@dataclass(frozen=True)
class Compressed:
    """One packet as it arrived: ``time`` wall clock and ``monotonic`` seconds of its arrival,
    ``keyframe``, and the PyAV packet (its ``pts``/``dts`` in ``packet.time_base``)."""

    time: float
    monotonic: float
    keyframe: bool
    packet: av.Packet

    @property
    def size(self) -> int:
        """Bytes of compressed data."""
        return self.packet.size


def decode_keyframe(codec: Codec, packet: av.Packet) -> av.VideoFrame | None:
    """The picture of keyframe ``packet`` from a decoder of its own (flushed and dropped at
    once), or None when it does not decode alone. Blocking (~10 ms at 1080p)."""
    import av
    import av.error

    try:
        ctx = av.CodecContext.create(codec.name, "r")
        if codec.extradata:
            ctx.extradata = codec.extradata
        ctx.thread_count = 1
        frames = [*ctx.decode(packet), *ctx.decode(None)]
    except av.error.FFmpegError:
        return None
    return frames[0] if frames else None


class KeyframeRing:
    """A stream's most recent ``capacity`` keyframes, compressed; thread-safe.

    :meth:`opened` starts a connection (the keyframes of the one before are dropped: their
    parameter sets may differ); :meth:`add` is called by the capture thread for every keyframe;
    :meth:`nearest` gives the one nearest in time as a :class:`Frame` that decodes on demand.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"keyframe ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: deque[Compressed] = deque(maxlen=capacity)
        self._codec: Codec | None = None

    def opened(self, codec: Codec) -> None:
        """A new connection of the stream delivers packets of ``codec`` from now on."""
        with self._lock:
            self._codec = codec
            self._items.clear()

    def clear(self) -> None:
        """Forget every keyframe (the connection ended)."""
        with self._lock:
            self._items.clear()

    def add(self, item: Compressed) -> None:
        """Keep keyframe ``item``; the oldest goes once ``capacity`` are kept."""
        with self._lock:
            self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Compressed bytes held."""
        with self._lock:
            return sum(item.size for item in self._items)

    @property
    def codec(self) -> Codec | None:
        """The current connection's codec (None before the first connection)."""
        return self._codec

    def nearest(self, when: float) -> Frame | None:
        """The keyframe whose arrival (wall clock, seconds) is nearest ``when``, as a keyframe
        :class:`Frame` decoded on demand at the stream's size; None when the ring is empty."""
        with self._lock:
            codec = self._codec
            if codec is None or not self._items:
                return None
            item = min(self._items, key=lambda it: abs(it.time - when))

        def decode(packet: av.Packet) -> av.VideoFrame | None:
            return decode_keyframe(codec, packet)

        return Frame(item.time, item.monotonic, codec.width, codec.height, True, packet=item.packet,
                     decode=decode)
