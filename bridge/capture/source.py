"""Blocking stream reader (PyAV): open a camera source, demux, decode what consumers need.

Runs in a worker thread, one per camera connection. Design (see docs/performance.md): while every
consumer wants keyframes only, an H.264/H.265 camera costs one keyframe decode per GOP, and each
keyframe is decoded by a decoder of its own that is dropped right after (a keyframe needs no
earlier picture), so a snapshot-only camera keeps no decoder frame pool between keyframes (about
4 MiB per 1080p camera). That decode happens in the consumer's thread when it first asks for the
picture (``Frame.bgr``), so keyframes waiting for a busy JPEG encoder stay compressed. While a
consumer wants every frame, one long-lived decoder starts at the next keyframe and is dropped
again when no consumer needs it. Intra-only codecs (MJPEG, raw) are decoded only for frames a
consumer takes, and MJPEG frames are passed on as the camera's own JPEG bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import av.error

from ..config import CameraConfig
from ..errors import CaptureError, StallError
from ..redact import redact
from . import failure, usb
from .frame import Frame
from .ring import Compressed

_LOGGER = logging.getLogger(__name__)

#: probe little so the first frame comes fast (measured here: ~0.1 s instead of ~1.5 s)
PROBE_OPTIONS = {"analyzeduration": "200000", "probesize": "65536"}
#: decoder options of an RTSP stream's probe (FFmpeg's ``avformat_find_stream_info``, per
#: stream): decode no picture. The size comes from the SDP's parameter sets; a probe that decodes
#: holds several 1080p pictures (~5-9 MiB) while it runs, and cameras whose open waited longer
#: than ``OPEN_SLOT_WAIT`` probe at once: measured with 20 x 1080p cameras starting together,
#: 201 MiB peak RSS with decoding probes, 121 MiB without. A stream whose size stays unknown
#: this way (parameter sets only in-band) is opened again with a decoding probe.
RTSP_PROBE_STREAM_OPTIONS = {"skip_frame": "nonkey"}
#: per-stream option dicts passed (PyAV uses those of the streams the SDP declares)
PROBED_STREAMS = 8
#: streams opened at once (the probe of an HTTP or USB stream decodes a picture, ~5 MiB at
#: 1080p: 8 cameras opening together would add ~45 MiB to the process's peak memory for a moment)
OPEN_SLOTS = threading.BoundedSemaphore(2)
#: seconds a camera waits at most for an open slot; then it opens anyway (a camera whose open
#: hangs must not hold the others back for longer than this)
OPEN_SLOT_WAIT = 1.0
#: decoder threads per camera (see StreamReader._read)
DECODE_THREADS = 1
#: decoder options for pictures decoded from keyframes alone (snapshots, timelapse frames): the
#: H.264/H.265 in-loop deblocking filter is skipped. No later picture is predicted from these, so
#: nothing drifts; it saves ~13 % of a 1080p keyframe's decode (1.35 of 10.7 ms) and the pictures
#: differ from deblocked ones by 50-54 dB PSNR at full size (55-58 dB at 640 px) on the shared
#: street footage at 1.5 and 4 Mbit/s, far below what JPEG quality 80 changes (docs/performance.md)
KEYFRAME_DECODER_OPTIONS = {"skip_loop_filter": "all"}
#: codecs whose every frame is a keyframe: decoded only when a consumer takes the frame
INTRA_ONLY = frozenset({"mjpeg", "rawvideo", "wrapped_avframe", "png", "bmp"})


@dataclass(frozen=True)
class StreamInfo:
    """What an opened stream carries: codec name, size in pixels, nominal rate in frames/s, and
    its first audio stream (``"aac 48000 Hz 2 ch"``, None when it has none)."""

    codec: str
    width: int
    height: int
    rate: float | None
    audio: str | None = None
    #: the codec's parameter sets (None when they come in-band)
    extradata: bytes | None = None
    #: the PyAV video stream (valid in the capture thread's ``opened`` call only: for copying
    #: its codec parameters, e.g. :class:`~bridge.capture.ring.MuxTemplate`)
    stream: Any = field(default=None, compare=False, repr=False)


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

    def compressed(self, item: Compressed) -> None:
        """A video packet as it arrived, for the stream's rings (keyframes, clips)."""


def open_container(cam: CameraConfig) -> av.container.InputContainer:
    """Open ``cam``'s source with PyAV. Blocking.

    RTSP: TCP unless ``transport: udp``. Network reads are bounded by FFmpeg's own socket
    timeouts (``stall_timeout``), not PyAV's Python interrupt callback, which costs about a
    quarter of a snapshot-only camera's CPU (see docs/performance.md); USB reads use PyAV's
    ``open_timeout``/``stall_timeout``. ``lavfi:GRAPH`` opens an FFmpeg lavfi graph; ``/dev/videoN`` opens V4L2 (MJPEG
    input preferred, see :mod:`bridge.capture.usb`). Raises :class:`CaptureError` (credentials
    masked; its message says why in words and ``reason`` names it, see
    :mod:`bridge.capture.failure`), ``permanent`` when the source has no video stream or its codec
    has no decoder. At most ``OPEN_SLOTS`` sources
    open at once, each waiting at most ``OPEN_SLOT_WAIT`` seconds for its turn.
    """
    slot = OPEN_SLOTS.acquire(timeout=OPEN_SLOT_WAIT)
    try:
        return _open(cam)
    finally:
        if slot:
            OPEN_SLOTS.release()


def probe_stream(cam: CameraConfig) -> StreamInfo:
    """Open ``cam``'s source, read what its video stream carries and close it again (a
    connection test before a camera is added). Blocking: run it in a thread. Raises
    :class:`CaptureError` (credentials masked)."""
    container = open_container(cam)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = float(stream.average_rate) if stream.average_rate else None
        return StreamInfo(ctx.name, ctx.width, ctx.height, rate)
    finally:
        container.close()


def _open(cam: CameraConfig) -> av.container.InputContainer:
    kind = cam.kind
    timeout = max(cam.open_timeout, cam.stall_timeout)
    socket_timeout = str(int(timeout * 1_000_000))  # µs
    started = time.monotonic()
    try:
        if kind == "usb":
            container = usb.open_device(cam, (cam.open_timeout, cam.stall_timeout))
        elif kind == "lavfi":
            container = av.open(cam.source[len("lavfi:") :], format="lavfi")
        elif kind == "rtsp":
            options = {**PROBE_OPTIONS, "rtsp_transport": cam.transport, "timeout": socket_timeout}
            container = _open_rtsp(cam, options)
        elif kind == "http":
            options = {**PROBE_OPTIONS, "timeout": socket_timeout, "rw_timeout": socket_timeout}
            container = av.open(cam.source, options=options)
        else:
            container = av.open(cam.source)
    except (av.error.FFmpegError, OSError) as err:
        reason, text = failure.explain(
            err, cam.source, network=kind in ("rtsp", "http"), elapsed=time.monotonic() - started, timeout=timeout
        )
        raise CaptureError(f"cannot open {cam.safe_source}: {redact(text)}", reason=reason) from None
    if not container.streams.video:
        container.close()
        raise CaptureError(f"{cam.safe_source} has no video stream", permanent=True, reason=failure.Reason.NO_VIDEO)
    stream = container.streams.video[0]
    if stream.codec_context is None:  # FFmpeg knows no decoder for it
        container.close()
        raise CaptureError(
            f"{cam.safe_source}: unsupported codec (FFmpeg has no decoder for its "
            "video stream; set the camera to H.264, H.265 or MJPEG)",
            permanent=True,
            reason=failure.Reason.UNSUPPORTED_CODEC,
        )
    return container


def _open_rtsp(cam: CameraConfig, options: dict[str, str]) -> av.container.InputContainer:
    """Open an RTSP source with a probe that decodes no picture (:data:`RTSP_PROBE_STREAM_OPTIONS`),
    and again with a decoding probe when its video size stays unknown that way. A stream without
    video or without a decoder is returned as it is (the caller says why it cannot be used).
    Raises ``av.error.FFmpegError`` / ``OSError`` as ``av.open`` does."""
    container = av.open(cam.source, options=options, stream_options=[RTSP_PROBE_STREAM_OPTIONS] * PROBED_STREAMS)
    video = container.streams.video
    ctx = video[0].codec_context if video else None
    if ctx is None or ctx.width:
        return container
    _LOGGER.debug("%s: size unknown without decoding: probing again", cam.safe_source)
    container.close()
    return av.open(cam.source, options=options)


def _audio(container: av.container.InputContainer) -> str | None:
    """``"codec rate Hz channels ch"`` of the container's first audio stream, or None."""
    if not container.streams.audio:
        return None
    ctx = container.streams.audio[0].codec_context
    if ctx is None:
        return "unsupported codec"
    channels = ctx.layout.nb_channels if ctx.layout is not None else ctx.channels
    return f"{ctx.name} {ctx.sample_rate} Hz {channels} ch"


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
        sink.opened(
            StreamInfo(
                codec,
                ctx.width,
                ctx.height,
                float(stream.average_rate) if stream.average_rate else None,
                _audio(container),
                ctx.extradata,
                stream,
            )
        )
        paced = cam.kind in ("file", "lavfi")
        clock = _Pacer() if paced else None
        decoder = _Decoder(ctx, sink)
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
                    # the packet's arrival: the time of the frames it gives, before any decode
                    arrived, now = time.time(), time.monotonic()
                    sink.packet(keyframe)
                    sink.compressed(Compressed(arrived, now, keyframe, packet))
                    if intra:
                        if sink.wanted(True, now):
                            self._deliver_intra(packet, ctx, sink, arrived, now)
                        continue
                    every_frame = not sink.all_keyframes_only()
                    if not every_frame:
                        decoder.drop()
                        if not (keyframe and sink.wanted(True, now)):
                            continue  # no consumer wants this packet: no decode at all
                        if decoder.alone_ok:  # decoded by the consumer, when it asks
                            sink.frame(
                                Frame(
                                    arrived,
                                    now,
                                    ctx.width,
                                    ctx.height,
                                    True,
                                    packet=packet,
                                    decode=decoder.decode_alone,
                                )
                            )
                            continue
                    started = time.perf_counter()
                    vframes = decoder.decode(packet, keyframe, every_frame)
                    sink.decoded(len(vframes), time.perf_counter() - started)
                    for vframe in vframes:
                        if sink.wanted(vframe.key_frame, now):
                            sink.frame(
                                Frame(
                                    arrived, now, vframe.width, vframe.height, bool(vframe.key_frame), av_frame=vframe
                                )
                            )
            except (av.error.ExitError, TimeoutError):  # PyAV's or FFmpeg's read timeout
                raise StallError(f"no packet for {cam.stall_timeout:g} s") from None
            except av.error.FFmpegError as err:
                raise CaptureError(f"read failed: {redact(_describe(err))}") from None
            if cam.kind != "file":
                raise CaptureError("stream ended")
            container.seek(0)  # a file camera loops
            decoder.drop()
            if clock is not None:
                clock.reset()

    @staticmethod
    def _deliver_intra(packet: av.Packet, ctx: av.CodecContext, sink: Sink, arrived: float, now: float) -> None:
        if ctx.name == "mjpeg":
            sink.frame(Frame(arrived, now, ctx.width, ctx.height, True, jpeg=bytes(packet)))
            return
        started = time.perf_counter()
        vframes = packet.decode()
        sink.decoded(len(vframes), time.perf_counter() - started)
        for vframe in vframes:
            sink.frame(Frame(arrived, now, vframe.width, vframe.height, True, av_frame=vframe))


class _Decoder:
    """Decodes a stream's packets with the least memory held between keyframes.

    Keyframes-only mode: :meth:`decode_alone` decodes a keyframe with a fresh decoder that is
    flushed and dropped at once (an IDR picture decodes alone; SPS/PPS come from the stream's
    extradata or the packet itself). If a stream's keyframes do not decode alone (e.g. parameter
    sets sent only once), ``alone_ok`` turns false and the reader uses one long-lived decoder with
    ``skip_frame = NONKEY`` through :meth:`decode` for the rest of the connection.
    Every-frame mode (:meth:`decode`): one long-lived decoder, fed from the next keyframe on, so no
    picture is decoded against missing references.
    """

    def __init__(self, template: av.CodecContext, sink: Sink) -> None:
        # copied now: a keyframe may be decoded (by its consumer) after its stream was closed, and
        # this must not depend on PyAV keeping a closed stream's codec context readable
        self._codec: str = template.name
        self._extradata: bytes | None = template.extradata
        self._sink = sink
        self._ctx: av.CodecContext | None = None  # the long-lived decoder, while needed
        self._every_frame = False
        self.alone_ok = True

    def _new_context(self, keyframes_only: bool) -> av.CodecContext:
        ctx = av.CodecContext.create(self._codec, "r")
        if self._extradata:
            ctx.extradata = self._extradata
        ctx.thread_count = DECODE_THREADS
        if keyframes_only:
            ctx.options = dict(KEYFRAME_DECODER_OPTIONS)
        return ctx

    def drop(self) -> None:
        """Free the long-lived decoder (and its frame pool) unless keyframes fell back on it."""
        if self.alone_ok:
            self._ctx, self._every_frame = None, False

    def decode_alone(self, packet: av.Packet) -> av.VideoFrame | None:
        """The picture of keyframe ``packet`` from a decoder of its own, or None when it does not
        decode alone (then ``alone_ok`` turns false). Any thread; blocking (~10 ms at 1080p)."""
        started = time.perf_counter()
        try:
            ctx = self._new_context(keyframes_only=True)
            frames = [*ctx.decode(packet), *ctx.decode(None)]  # decode, then flush
        except av.error.FFmpegError as err:
            _LOGGER.debug("keyframe does not decode alone: %s", _describe(err))
            frames = []
        self._sink.decoded(len(frames), time.perf_counter() - started)
        if not frames:
            _LOGGER.debug("keyframes do not decode alone: one decoder kept per connection")
            self.alone_ok = False
            return None
        return frames[0]

    def decode(self, packet: av.Packet, keyframe: bool, every_frame: bool) -> list[av.VideoFrame]:
        """Decoded frames of ``packet`` (maybe none) on the long-lived decoder (capture thread).
        ``every_frame``: a consumer wants every frame, else only keyframes are passed in.
        Raises ``av.error.FFmpegError``."""
        if every_frame and not self._every_frame:
            if not keyframe:
                return []  # wait for a keyframe: nothing to decode against yet
            self._ctx, self._every_frame = self._new_context(keyframes_only=False), True
        elif not every_frame and self._ctx is None:
            self._ctx = self._new_context(keyframes_only=True)
            self._ctx.skip_frame = "NONKEY"
        assert self._ctx is not None
        return list(self._ctx.decode(packet))


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
