"""Blocking stream reader (PyAV): open a camera source, demux, decode what consumers need.

Runs in a worker thread, one per camera connection. Design (see docs/performance.md): while every
consumer wants keyframes only, the decoder is set to ``skip_frame = NONKEY``, so an H.264/H.265
camera costs one keyframe decode per GOP; intra-only codecs (MJPEG, raw) are decoded only for
frames a consumer takes, and MJPEG frames are passed on as the camera's own JPEG bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import av
import av.error

from ..config import CameraConfig
from ..errors import CaptureError, StallError
from ..redact import redact
from . import usb
from .frame import Frame

_LOGGER = logging.getLogger(__name__)

#: probe little so the first frame comes fast (measured here: ~0.1 s instead of ~1.5 s)
PROBE_OPTIONS = {"analyzeduration": "200000", "probesize": "65536"}
#: decoder threads per camera (see StreamReader._read)
DECODE_THREADS = 1
#: codecs whose every frame is a keyframe: decoded only when a consumer takes the frame
INTRA_ONLY = frozenset({"mjpeg", "rawvideo", "wrapped_avframe", "png", "bmp"})


@dataclass(frozen=True)
class StreamInfo:
    """What an opened stream carries: codec name, size in pixels, nominal rate in frames/s."""

    codec: str
    width: int
    height: int
    rate: float | None


class Sink(Protocol):
    """Receives what a :class:`StreamReader` reads (called from the capture thread)."""

    def opened(self, info: StreamInfo) -> None:
        """The stream is open."""

    def packet(self, keyframe: bool) -> None:
        """A video packet arrived."""

    def decoded(self, frames: int = 1, seconds: float = 0.0) -> None:
        """``frames`` frames were decoded (whether or not a consumer takes them), in ``seconds``
        of decoder time."""

    def wanted(self, keyframe: bool, now: float) -> bool:
        """Whether any consumer wants a frame arriving now."""

    def all_keyframes_only(self) -> bool:
        """Whether every consumer needs keyframes only."""

    def frame(self, frame: Frame) -> None:
        """A frame some consumer wants."""


def open_container(cam: CameraConfig) -> av.container.InputContainer:
    """Open ``cam``'s source with PyAV. Blocking.

    RTSP: TCP unless ``transport: udp``. Network reads are bounded by FFmpeg's own socket
    timeouts (``stall_timeout``), not PyAV's Python interrupt callback, which costs about a
    quarter of a snapshot-only camera's CPU (see docs/performance.md); USB reads use PyAV's
    ``open_timeout``/``stall_timeout``. ``lavfi:GRAPH`` opens an FFmpeg lavfi graph; ``/dev/videoN`` opens V4L2 (MJPEG
    input preferred, see :mod:`bridge.capture.usb`). Raises :class:`CaptureError` (credentials
    masked), ``permanent`` when the source has no video stream.
    """
    kind = cam.kind
    socket_timeout = str(int(max(cam.open_timeout, cam.stall_timeout) * 1_000_000))  # µs
    try:
        if kind == "usb":
            container = usb.open_device(cam, (cam.open_timeout, cam.stall_timeout))
        elif kind == "lavfi":
            container = av.open(cam.source[len("lavfi:"):], format="lavfi")
        elif kind == "rtsp":
            options = {**PROBE_OPTIONS, "rtsp_transport": cam.transport, "timeout": socket_timeout}
            container = av.open(cam.source, options=options)
        elif kind == "http":
            options = {**PROBE_OPTIONS, "timeout": socket_timeout, "rw_timeout": socket_timeout}
            container = av.open(cam.source, options=options)
        else:
            container = av.open(cam.source)
    except (av.error.FFmpegError, OSError) as err:
        raise CaptureError(f"cannot open {cam.safe_source}: {redact(_describe(err))}") from None
    if not container.streams.video:
        container.close()
        raise CaptureError(f"{cam.safe_source} has no video stream", permanent=True)
    return container


def _describe(err: BaseException) -> str:
    if isinstance(err, av.error.FFmpegError):
        return err.strerror or str(err)
    return str(err.strerror if isinstance(err, OSError) and err.strerror else err)


class StreamReader:
    """Reads one connection to a camera until ``stop`` is set or the stream fails.

    Files and lavfi graphs are paced to real time (their timestamps) and files loop at their end,
    so they behave like a camera.
    """

    def __init__(self, cam: CameraConfig, stop: threading.Event) -> None:
        self._cam = cam
        self._stop = stop

    def run(self, sink: Sink) -> None:
        """Open and read until stopped (returns) or failed (raises :class:`CaptureError`, or
        :class:`StallError` when no packet came for ``stall_timeout`` seconds). Blocking."""
        container = open_container(self._cam)
        try:
            self._read(container, sink)
        finally:
            container.close()

    def _read(self, container: av.container.InputContainer, sink: Sink) -> None:
        cam = self._cam
        stream = container.streams.video[0]
        ctx = stream.codec_context
        # one decoding thread: keyframes are decoded one at a time anyway, and FFmpeg's
        # default (a thread per core) keeps a frame pool per thread
        ctx.thread_count = DECODE_THREADS
        codec = ctx.name
        intra = codec in INTRA_ONLY
        sink.opened(StreamInfo(codec, ctx.width, ctx.height,
                               float(stream.average_rate) if stream.average_rate else None))
        paced = cam.kind in ("file", "lavfi")
        clock = _Pacer() if paced else None
        skipping: bool | None = None
        while not self._stop.is_set():
            try:
                packets = container.demux(stream)
                for packet in packets:
                    if self._stop.is_set():
                        return
                    if packet.size == 0:
                        continue
                    keyframe = intra or packet.is_keyframe
                    if clock is not None:
                        clock.wait(packet, self._stop)
                    sink.packet(keyframe)
                    now = time.monotonic()
                    if intra:
                        if sink.wanted(True, now):
                            self._deliver_intra(packet, ctx, sink, now)
                        continue
                    want_key_only = sink.all_keyframes_only()
                    if want_key_only is not skipping:
                        ctx.skip_frame = "NONKEY" if want_key_only else "DEFAULT"
                        skipping = want_key_only
                    if skipping and keyframe and not sink.wanted(True, time.monotonic()):
                        continue  # no consumer wants this keyframe: no decode at all
                    started = time.perf_counter()
                    vframes = packet.decode()
                    sink.decoded(len(vframes), time.perf_counter() - started)
                    for vframe in vframes:
                        now = time.monotonic()
                        if sink.wanted(vframe.key_frame, now):
                            sink.frame(Frame(time.time(), now, vframe.width, vframe.height,
                                             bool(vframe.key_frame), av_frame=vframe))
            except (av.error.ExitError, TimeoutError):  # PyAV's or FFmpeg's read timeout
                raise StallError(f"no packet for {cam.stall_timeout:g} s") from None
            except av.error.FFmpegError as err:
                raise CaptureError(f"read failed: {redact(_describe(err))}") from None
            if cam.kind != "file":
                raise CaptureError("stream ended")
            container.seek(0)  # a file camera loops
            if clock is not None:
                clock.reset()

    @staticmethod
    def _deliver_intra(packet: av.Packet, ctx: av.CodecContext, sink: Sink, now: float) -> None:
        if ctx.name == "mjpeg":
            sink.frame(Frame(time.time(), now, ctx.width, ctx.height, True, jpeg=bytes(packet)))
            return
        started = time.perf_counter()
        vframes = packet.decode()
        sink.decoded(len(vframes), time.perf_counter() - started)
        for vframe in vframes:
            sink.frame(Frame(time.time(), now, vframe.width, vframe.height, True, av_frame=vframe))


class _Pacer:
    """Sleeps so packets of a file/lavfi source are released at their presentation time."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._origin: tuple[float, float] | None = None

    def wait(self, packet: av.Packet, stop: threading.Event) -> None:
        if packet.pts is None or packet.time_base is None:
            return
        pts = float(packet.pts * packet.time_base)
        if self._origin is None:
            self._origin = (time.monotonic(), pts)
            return
        delay = self._origin[0] + (pts - self._origin[1]) - time.monotonic()
        if delay > 0:
            stop.wait(min(delay, 1.0))


