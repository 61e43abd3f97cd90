"""Rings of a stream's recent compressed packets (packets, not pixels).

:class:`KeyframeRing` keeps a stream's last N keyframes: event snapshots decode the one nearest in
time to a detection frame, at the stream's full resolution. A camera has one only where it is read:
on its ``snapshot`` stream when detection runs on another stream (on a one-stream camera the
detection frame is the snapshot stream's own picture). The capture thread adds to it, any thread
reads it. Memory is bounded by the count of keyframes and by bytes, reported as
:attr:`KeyframeRing.bytes`.
"""

from __future__ import annotations

import threading
import time
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

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"keyframe ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        #: compressed bytes held at most (the oldest keyframes go first; the newest always stays)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        #: notified for every keyframe added (:meth:`next_after` waits on it)
        self._added = threading.Condition(self._lock)
        self._items: deque[Compressed] = deque()
        self._bytes = 0
        self._codec: Codec | None = None

    def opened(self, codec: Codec) -> None:
        """A new connection of the stream delivers packets of ``codec`` from now on."""
        with self._lock:
            self._codec = codec
            self._items.clear()
            self._bytes = 0

    def clear(self) -> None:
        """Forget every keyframe (the connection ended)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def add(self, item: Compressed) -> None:
        """Keep keyframe ``item``; the oldest go while more than ``capacity`` are kept or they
        hold more than ``max_bytes`` (the newest one stays whatever its size)."""
        with self._lock:
            self._items.append(item)
            self._bytes += item.size
            while len(self._items) > 1 and (
                len(self._items) > self.capacity or (self.max_bytes is not None and self._bytes > self.max_bytes)
            ):
                self._bytes -= self._items.popleft().size
            self._added.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Compressed bytes held."""
        return self._bytes

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
        return _picture(codec, item)

    def next_after(self, after: float, timeout: float) -> Frame | None:
        """The first keyframe that arrived later than ``after`` (wall clock, seconds), as
        :meth:`nearest` gives it, waiting up to ``timeout`` seconds for one to be added; None
        when none came. Blocking."""
        deadline = time.monotonic() + timeout
        with self._added:
            while True:
                codec = self._codec
                item = next((it for it in self._items if it.time > after), None)
                if item is not None and codec is not None:
                    return _picture(codec, item)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._added.wait(remaining)


def _picture(codec: Codec, item: Compressed) -> Frame:
    """Keyframe ``item`` as a :class:`Frame` decoded on demand at the stream's size."""

    def decode(packet: av.Packet) -> av.VideoFrame | None:
        return decode_keyframe(codec, packet)

    return Frame(item.time, item.monotonic, codec.width, codec.height, True, packet=item.packet, decode=decode)


class MuxTemplate:
    """A stream's codec parameters, copied when its connection opens, for remuxing its packets
    after the connection closed (an MP4 output stream that is never written). Raises
    ``ValueError`` when the MP4 muxer does not take the stream's codec."""

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        import io

        import av
        import av.error

        try:
            self._holder = av.open(io.BytesIO(), "w", format="mp4")
            self.stream = self._holder.add_stream_from_template(stream)
        except (av.error.FFmpegError, ValueError) as err:
            raise ValueError(f"cannot remux {stream.codec_context.name} into MP4: {err}") from None


class Recording:
    """Packets of a clip being recorded: the ring's packets when it started, then every packet
    added until :meth:`PacketRing.stop`; at most ``max_bytes`` (later packets are dropped and
    ``truncated`` set). ``template`` is the connection's :class:`MuxTemplate`; ``cut`` is set
    when the connection ended before the recording stopped."""

    def __init__(self, items: list[Compressed], template: MuxTemplate | None, max_bytes: int) -> None:
        self.items = items
        self.template = template
        self.max_bytes = max_bytes
        self.bytes = sum(item.size for item in items)
        self.truncated = False
        self.cut = False

    def _add(self, item: Compressed) -> None:
        if self.cut or self.truncated:
            return
        if self.bytes + item.size > self.max_bytes:
            self.truncated = True
            return
        self.items.append(item)
        self.bytes += item.size


class PacketRing:
    """A stream's most recent packets covering at least ``seconds`` seconds and starting at a
    keyframe (whole GOPs: up to one GOP more), at most ``max_bytes`` (older GOPs go first);
    thread-safe. The capture thread :meth:`add` s every packet; :meth:`record` starts a
    :class:`Recording` with the ring's packets that goes on receiving new ones until :meth:`stop`.
    """

    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: deque[Compressed] = deque()
        self._bytes = 0
        self._template: MuxTemplate | None = None
        self._recordings: list[Recording] = []

    def opened(self, template: MuxTemplate | None) -> None:
        """A new connection: its packets (of ``template``'s codec parameters; None: cannot be
        remuxed) replace the old ones; recordings of the old connection are cut there."""
        with self._lock:
            self._template = template
            self._items.clear()
            self._bytes = 0
            for rec in self._recordings:
                rec.cut = True

    @property
    def bytes(self) -> int:
        """Compressed bytes held by the ring (recordings not counted)."""
        return self._bytes

    def add(self, item: Compressed) -> None:
        """Add a packet (capture thread)."""
        with self._lock:
            for rec in self._recordings:
                rec._add(item)
            if not self._items and not item.keyframe:
                return  # the ring starts at a keyframe
            self._items.append(item)
            self._bytes += item.size
            self._trim(item.monotonic)

    def _trim(self, now: float) -> None:
        """Drop the oldest GOP while the next one still covers ``seconds``, or while over
        ``max_bytes`` (keeping at least the newest GOP)."""
        while True:
            second = next((i for i, it in enumerate(self._items) if i and it.keyframe), None)
            if second is None:
                return
            covered = self._items[second].monotonic <= now - self.seconds
            if not covered and self._bytes <= self.max_bytes:
                return
            for _ in range(second):
                self._bytes -= self._items.popleft().size

    def record(self, max_bytes: int) -> Recording:
        """Start a recording: the ring's packets now, then every packet added."""
        with self._lock:
            rec = Recording(list(self._items), self._template, max_bytes)
            self._recordings.append(rec)
            return rec

    def stop(self, rec: Recording) -> Recording:
        """Stop ``rec`` receiving packets; returns it."""
        with self._lock:
            if rec in self._recordings:
                self._recordings.remove(rec)
        return rec

    @property
    def recording_bytes(self) -> int:
        """Compressed bytes held by recordings in progress."""
        with self._lock:
            return sum(rec.bytes for rec in self._recordings)


def remux(path: str, rec: Recording) -> float:
    """Write ``rec``'s packets into an MP4 at ``path`` (stream copy: no decode, no encode),
    timestamps from 0 at its first packet (a keyframe). Returns the clip's duration in seconds.
    Blocking. Raises ``ValueError`` when there is nothing to write or no template, OSError or
    ``av.error.FFmpegError`` when writing fails."""
    import av

    items = rec.items
    # the first keyframe with a timestamp (an RTSP connection's first packet may have none)
    start = next(
        (i for i, it in enumerate(items) if it.keyframe and (it.packet.dts is not None or it.packet.pts is not None)),
        None,
    )
    if rec.template is None or start is None:
        raise ValueError("no keyframe to start a clip from" if rec.template else "stream cannot be remuxed")
    items = items[start:]
    first = items[0].packet
    base = first.dts if first.dts is not None else first.pts or 0
    end = base
    with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(rec.template.stream)
        stream.time_base = first.time_base
        last_dts: int | None = None
        for item in items:
            src = item.packet
            dts = src.dts if src.dts is not None else src.pts
            if dts is None or (last_dts is not None and dts <= last_dts):
                continue  # no time to place it at, or out of order: muxers refuse it
            last_dts = dts
            packet = av.Packet(bytes(src))
            packet.stream = stream
            packet.time_base = src.time_base
            packet.dts = dts - base
            packet.pts = (src.pts if src.pts is not None else dts) - base
            packet.duration = src.duration
            packet.is_keyframe = item.keyframe
            end = max(end, (src.pts if src.pts is not None else dts) + (src.duration or 0))
            out.mux(packet)
    return float((end - base) * first.time_base)
