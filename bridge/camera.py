"""Per-camera supervisor: owns the camera's connections (one per stream), their state machines
and stats."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

from .backoff import BACKOFF_MAX, backoff_delay
from .capture import Frame, Need, StreamInfo, StreamReader, Subscription
from .capture.mask import PrivacyMask
from .capture.ring import Codec, Compressed, KeyframeRing, MuxTemplate, PacketRing
from .config import CameraConfig
from .errors import CaptureError, StallError
from .redact import redact
from .service import Service
from .status import CameraState, CameraStatus

_LOGGER = logging.getLogger(__name__)

FPS_WINDOW = 2.0  #: seconds over which the packet rate is measured
#: seconds of the first measurement after streaming starts (its status is published again then)
FIRST_FPS_WINDOW = 1.0
#: seconds after a connection's first packet before its rate is measured: the packets read while
#: the stream was probed (up to ``analyzeduration``, 0.2 s of video) arrive at once and counted
#: made the first figure ~20 % high (30 fps for a 25 fps camera)
FPS_SETTLE = 0.3
READER_EXIT_WAIT = 2.0  #: seconds a stopping connection waits for its reader thread
PROBE_INTERVAL = 1.0  #: seconds between reachability probes while backing off
PROBE_TIMEOUT = 1.0  #: seconds a reachability probe may take
#: seconds an event snapshot waits, at most, for the snapshot stream's next keyframe
KEYFRAME_WAIT_MAX = 2.0


async def probe(cam: CameraConfig) -> bool | None:
    """Whether ``cam``'s source looks reachable: a TCP connect to an RTSP/HTTP camera's host and
    port, the device node of a USB camera; None for sources with nothing to probe."""
    if cam.kind == "usb":
        return os.path.exists(cam.source)
    if cam.kind not in ("rtsp", "http"):
        return None
    parts = urlsplit(cam.source)
    default = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme.lower(), 554)
    try:
        port = parts.port or default
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


Listener = Callable[["Camera"], None]
#: picks what a connection opens: the camera's own config, or one reading another source (the
#: MediaMTX restream); called before every connection attempt
Router = Callable[[CameraConfig], CameraConfig]


class SourceSwitch(CaptureError):
    """Raised (returned) when a connection is ended on purpose to reopen from another source."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned reader's outcome as retrieved (it was reported, or superseded)."""
    if not future.cancelled():
        future.exception()


def run_in_thread(fn: Callable[..., Any], *args: Any, name: str) -> asyncio.Future[Any]:
    """Run blocking ``fn(*args)`` in a new daemon thread; the future resolves with its result or
    exception on the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        error: BaseException | None = None
        try:
            result = fn(*args)
        except BaseException as err:  # handed to the loop, not lost in the thread
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop may be gone at interpreter exit
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


class Camera(Service):
    """Supervises one camera: connect, stream, back off, reconnect; never blocks other cameras.

    Use as an async context manager; its loop runs as task ``camera[<id>].supervise``, the
    blocking reader in a worker thread. Consumers call :meth:`subscribe` with a :class:`Need`
    and the role they play (``snapshot``, ``detect``, ``timelapse``); one connection per stream
    serves all of them. Listeners added with :meth:`add_listener` are called on the event loop
    after every state change.

    A camera with several ``streams`` is this object for its first stream owning one more
    ``Camera`` per further stream (``stream`` 1, 2, ...: one connection each, loops
    ``camera[<id>].stream<n>.supervise``), all in :attr:`streams`. Its :attr:`status` is the
    first stream's, except ``state`` (``streaming`` only when every stream is) and ``streams``
    (each stream's state, fps, size and codec).
    """

    def __init__(self, config: CameraConfig, *, stream: int = 0, parent: Camera | None = None) -> None:
        super().__init__()
        self.config = config
        self.id = config.id
        #: index of the stream this object connects to, and what that stream is for
        self.stream = stream
        self.roles = config.roles_of(stream)
        self._parent = parent
        self._label = config.id if stream == 0 else f"{config.id} stream {stream}"
        #: what each connection of this stream opens (before the router)
        self.stream_config = config.stream_config(stream)
        #: this camera's streams: itself first, then one Camera per further stream
        self.streams: tuple[Camera, ...] = (self,)
        if parent is None:
            self.streams += tuple(Camera(config, stream=i, parent=self) for i in range(1, config.stream_count))
        self._children = AsyncExitStack()
        #: privacy masks drawn into every frame handed to consumers (None: no masks)
        self.mask = PrivacyMask(config.privacy_masks) if config.privacy_masks else None
        self._status = CameraStatus(state=CameraState.STOPPED)
        self._subs: tuple[Subscription, ...] = ()
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_packet = 0.0
        self._win_start = 0.0
        self._win_count = 0
        self._attempt = 0
        self._warned = False
        self._router: Router | None = None
        #: the config the current connection opened (``stream_config`` unless a router changed it)
        self.reading: CameraConfig = self.stream_config
        self._switch: asyncio.Event | None = None
        #: the stream's recent keyframes, compressed (event snapshots), once a consumer asked
        #: for them (:meth:`keep_keyframes`: only the ``snapshot`` stream of a camera detecting
        #: on another stream has one)
        self.keyframes: KeyframeRing | None = None
        #: the stream's recent packets (event clips), once a consumer asked for them
        self.packets: PacketRing | None = None

    # -- consumers -------------------------------------------------------------------------

    def subscribe(self, need: Need, role: str | None = None) -> Subscription:
        """Register a consumer of the stream that has ``role`` (``snapshot``, ``detect``,
        ``timelapse``; None: the first stream); frames it needs start flowing with the next
        packet."""
        target = self.stream_for(role) if role is not None else self
        if target is not self:
            return target.subscribe(need)
        sub = Subscription(need, self._loop or asyncio.get_running_loop())
        self._subs = (*self._subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a consumer (keyframe-only decoding resumes if it was the last needing more)."""
        sub.close()
        for stream in self.streams:
            stream._subs = tuple(s for s in stream._subs if s is not sub)

    def stream_for(self, role: str) -> Camera:
        """The stream (connection) of this camera that has ``role``."""
        return (self._parent or self).streams[self.config.stream_of(role)]

    @property
    def router(self) -> Router | None:
        """What picks the source of the connection of the ``restream`` stream (MediaMTX's
        ``read_via_mediamtx``); the other streams always read their own URL."""
        return self._router if self._parent is None else self._parent.router

    @router.setter
    def router(self, router: Router | None) -> None:
        self._router = router

    def keep_packets(self, seconds: float, max_bytes: int) -> PacketRing:
        """The ring of the stream's recent packets (covering ``seconds``, at most ``max_bytes``),
        created on the first call and filled from the next connection on (clips: the
        ``record`` stream's ring on a camera with several streams)."""
        target = self.stream_for("record")
        if target is not self:
            return target.keep_packets(seconds, max_bytes)
        if self.packets is None:
            self.packets = PacketRing(seconds, max_bytes)
        return self.packets

    def keep_keyframes(self) -> KeyframeRing | None:
        """The keyframe ring of the ``snapshot`` stream (event snapshots), created on the first
        call and filled from the next connection on: ``event_snapshot.keyframes`` keyframes, at
        most an eighth of ``event_snapshot.max_memory_mb``. None when the snapshot stream is the
        detect stream (a one-stream camera): the detection frame is then that stream's own
        full-size picture and no ring is kept."""
        target = self.stream_for("snapshot")
        if target is self.stream_for("detect"):
            return None
        if target.keyframes is None:
            max_bytes, _clip_ring, _clip = self.config.event_snapshot.ring_budget()
            target.keyframes = KeyframeRing(self.config.event_snapshot.keyframes, max_bytes)
        return target.keyframes

    @property
    def snapshot_ring(self) -> KeyframeRing | None:
        """The keyframe ring of the stream with the ``snapshot`` role, None until
        :meth:`keep_keyframes` made it (never on a one-stream camera)."""
        return self.stream_for("snapshot").keyframes

    def snapshot_picture(self, detect_frame: Frame) -> Frame:
        """The snapshot stream's picture nearest in time to ``detect_frame`` (a detection frame
        of this camera): a keyframe from :attr:`snapshot_ring` decoded on demand at that stream's
        full size, or ``detect_frame`` itself when there is no ring (on a camera whose snapshot
        and detect streams are one, the detection frame is that stream's own full-size picture)
        or it is still empty. When the newest keyframe is older than the detection frame, waits
        for the next one as long as it could still be nearer (``gap`` seconds after the detection
        frame, at most ``KEYFRAME_WAIT_MAX``): the picture is at most half a GOP away from the
        moment detected, for up to half a GOP more latency. Blocking (the detection thread)."""
        ring = self.snapshot_ring
        if ring is None or self.stream_for("snapshot") is self.stream_for("detect"):
            return detect_frame  # the detect stream is the snapshot stream: exact and full size
        when = detect_frame.time
        picture = ring.nearest(when)
        if picture is None:
            return detect_frame
        gap = when - picture.time
        if gap > 0:  # the newest keyframe is older than the detection: the next may be nearer
            wait = min(gap, KEYFRAME_WAIT_MAX) - (time.time() - when)
            later = ring.next_after(picture.time, wait) if wait > 0 else None
            if later is not None and abs(later.time - when) < gap:
                picture = later
        picture.mask = self.mask
        return picture

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(camera)`` on the event loop after each state change, and once more
        when the frame rate of a connection that started streaming is first measured (about
        ``FPS_SETTLE + FIRST_FPS_WINDOW`` seconds later), so the status published then carries its fps."""
        self._listeners.append(listener)

    @property
    def status(self) -> CameraStatus:
        """A copy of the current status: the first stream's counters, the camera's ``state``
        (``streaming`` only when every stream is; else the first stream's that is not) and
        ``error``, and ``streams`` (:meth:`stream_payload` of each)."""
        with self._lock:
            status = dataclasses.replace(self._status)
        status.streams = [s.stream_payload() for s in self.streams]
        status.state = self.state
        if status.error is None and status.state is not CameraState.STREAMING:
            status.error = next(
                (f"stream {s.stream}: {s._status.error}" for s in self.streams[1:] if s._status.error), None
            )
        return status

    def stream_payload(self) -> dict[str, Any]:
        """This stream as the status shows it: ``url`` (credentials masked), ``roles``,
        ``state``, ``fps`` (packets/s, 0.1), ``width``/``height`` (pixels), ``codec``, ``error``."""
        with self._lock:
            own = self._status
            return {
                "url": self.stream_config.safe_source,
                "roles": list(self.roles),
                "state": str(own.state),
                "fps": None if own.fps is None else round(own.fps, 1),
                "width": own.width,
                "height": own.height,
                "codec": own.codec,
                "error": own.error,
            }

    @property
    def state(self) -> CameraState:
        """The camera's state: ``streaming`` when every stream is, else the first stream's
        state that is not ``streaming``."""
        for stream in self.streams:
            if stream._status.state is not CameraState.STREAMING:
                return stream._status.state
        return CameraState.STREAMING

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._switch = asyncio.Event()
        for child in self.streams[1:]:
            child.add_listener(lambda _stream: self._notify())
            await self._children.enter_async_context(child)

    def switch_source(self) -> None:
        """End the current connection of the ``restream`` stream at once and reconnect, without
        backoff (the router will pick the source again), e.g. when MediaMTX comes or goes."""
        stream = self.stream_for("restream")
        if stream._switch is not None:
            stream._switch.set()

    def snapshot_taken(self, taken_at: float) -> None:
        """Note the capture time (seconds since the epoch) of the frame of the camera's newest
        snapshot: the status field ``taken_at``."""
        with self._lock:
            self._status.taken_at = taken_at

    def mark_offline(self, reason: str) -> None:
        """Report the camera ``offline`` (a stopped USB camera whose device was unplugged)."""
        for stream in self.streams:
            stream._set_state(CameraState.OFFLINE, CaptureError(reason))

    def mark_disabled(self) -> None:
        """Report the camera ``disabled`` (a stopped camera switched off by the user)."""
        for stream in self.streams:
            stream._set_state(CameraState.DISABLED)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        name = f"camera[{self.id}]" + (f".stream{self.stream}" if self.stream else "")
        return {f"{name}.supervise": self._supervise()}

    async def __aexit__(self, *exc: object) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            await self._children.aclose()
        self._set_state(CameraState.STOPPED)

    async def _supervise(self) -> None:
        while True:
            self._set_state(CameraState.CONNECTING)
            error = await self._connect_once()
            self._status.reconnects += 1
            if isinstance(error, SourceSwitch):
                continue
            delay = backoff_delay(self._attempt)
            self._attempt += 1
            if error.permanent:
                delay = BACKOFF_MAX
            self._set_state(CameraState.ERROR if error.permanent else CameraState.BACKOFF, error)
            await self._backoff(delay)

    async def _backoff(self, delay: float) -> None:
        """Sleep ``delay`` seconds, but retry at once when the camera comes back.

        While waiting, the source is probed every ``PROBE_INTERVAL`` seconds (a TCP connect to
        an RTSP/HTTP camera, the device node of a USB one). Only a down -> up change cuts the
        wait short, so a camera that accepts connections but fails to stream (wrong path, bad
        credentials) is not retried faster than the backoff allows. A :meth:`switch_source`
        ends the wait too.
        """
        deadline = time.monotonic() + delay
        was_down = False
        while (remaining := deadline - time.monotonic()) > 0:
            if self._switch is not None and self._switch.is_set():
                return  # the source changes (MediaMTX came or went): try the new one now
            up = await probe(self.stream_config)
            if up is None:  # nothing to probe (file, lavfi)
                await asyncio.sleep(remaining)
                return
            if up and was_down:
                _LOGGER.debug("camera %s: source reachable again, retrying now", self._label)
                return
            was_down = was_down or not up
            await asyncio.sleep(min(PROBE_INTERVAL, max(0.0, deadline - time.monotonic())))

    async def _connect_once(self) -> CaptureError:
        """Run one connection until it fails; return why."""
        stop = threading.Event()
        self.reading = self.stream_config
        router = self.router if "restream" in self.roles else None
        if router is not None:
            try:
                self.reading = router(self.stream_config)
            except Exception:  # a broken router must not stop the camera: read directly
                _LOGGER.exception("camera %s: source router failed", self._label)
        switch = self._switch
        assert switch is not None
        switch.clear()
        reader = StreamReader(self.reading, stop)
        self._last_packet = time.monotonic()
        # a thread of its own, not the default executor: a reader holds its thread for as long
        # as the camera streams, and a shared pool would run dry with a few cameras
        thread = run_in_thread(reader.run, _Sink(self), name=f"camera[{self._label}].reader")
        try:
            waiter = asyncio.ensure_future(switch.wait())
            try:
                while not thread.done():
                    await asyncio.wait([thread, waiter], timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    if switch.is_set() and not thread.done():
                        return SourceSwitch("switching source")
                    idle = time.monotonic() - self._last_packet
                    streaming = self._status.state is CameraState.STREAMING
                    if not thread.done() and streaming and idle > self.config.stall_timeout:
                        # no waiting for the blocked read: FFmpeg's socket timeout ends that thread
                        # later, and, told to stop, it delivers nothing more
                        return StallError(f"no packet for {self.config.stall_timeout:g} s")
            finally:
                waiter.cancel()
            thread.result()
        except CaptureError as err:
            return err
        except Exception as err:  # a decoder bug must not kill the supervisor
            _LOGGER.exception("camera %s: unexpected capture failure", self._label)
            return CaptureError(f"unexpected: {redact(err)}")
        finally:
            stop.set()
            if not thread.done():  # give a reader that is not blocked a moment to close cleanly
                await asyncio.wait([thread], timeout=READER_EXIT_WAIT)
            thread.add_done_callback(_retrieve)
        return CaptureError("reader stopped")

    # -- state -----------------------------------------------------------------------------

    def _on_fps_known(self) -> None:
        if self._status.state is CameraState.STREAMING and self._status.fps is not None:
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # one faulty listener must not stop the camera
                _LOGGER.exception("camera %s: state listener failed", self._label)

    def _set_state(self, state: CameraState, error: BaseException | None = None) -> None:
        with self._lock:
            old = self._status.state
            if error is not None:
                self._status.error = redact(error)
            elif state is CameraState.STREAMING:
                self._status.error = None
            if state is not CameraState.STREAMING:
                self._status.fps = None
            self._status.state = state
        if old is state and error is None:
            return
        self._log_transition(old, state)
        self._notify()

    def _log_transition(self, old: CameraState, state: CameraState) -> None:
        """One line per state change; a failing camera warns once, then logs at debug until it
        streams again."""
        status = self._status
        if state is CameraState.STREAMING:
            self._warned = False
            _LOGGER.info(
                "camera %s: %s -> streaming (%s %sx%s)", self._label, old, status.codec, status.width, status.height
            )
        elif state in (CameraState.BACKOFF, CameraState.ERROR):
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            _LOGGER.log(level, "camera %s: %s -> %s: %s", self._label, old, state, status.error)
        else:
            level = logging.DEBUG if self._warned else logging.INFO
            _LOGGER.log(level, "camera %s: %s -> %s", self._label, old, state)

    def _on_first_packet(self) -> None:
        self._attempt = 0
        self._set_state(CameraState.STREAMING)

    def _on_opened(self, info: StreamInfo) -> None:
        with self._lock:
            self._status.codec = info.codec
            if info.width and info.height:
                self._status.width, self._status.height = info.width, info.height


class _Sink:
    """The capture thread's view of a :class:`Camera` (one per connection)."""

    def __init__(self, camera: Camera) -> None:
        self._cam = camera
        self._first = True
        self._first_at = 0.0  # monotonic arrival of the connection's first packet
        self._settling = True  # before the first FPS_SETTLE seconds have passed

    def opened(self, info: StreamInfo) -> None:
        self._cam._on_opened(info)
        if self._cam.keyframes is not None:
            self._cam.keyframes.opened(Codec(info.codec, info.extradata, info.width, info.height))
        packets = self._cam.packets
        if packets is not None:
            template = None
            if info.stream is not None:
                try:
                    template = MuxTemplate(info.stream)
                except ValueError as err:
                    _LOGGER.warning("camera %s: no event clips: %s", self._cam.id, err)
            packets.opened(template)

    def compressed(self, item: Compressed) -> None:
        cam = self._cam
        if item.keyframe and cam.keyframes is not None:
            cam.keyframes.add(item)
        if cam.packets is not None:
            cam.packets.add(item)

    def packet(self, keyframe: bool) -> None:
        cam = self._cam
        now = time.monotonic()
        with cam._lock:
            status = cam._status
            status.frames += 1
            status.keyframes += keyframe
            status.last_frame_at = time.time()
            cam._last_packet = now
            first_fps = False
            if self._first:
                self._first_at = now
            elif self._settling:  # the probe's buffered packets come in a burst: not counted
                if now - self._first_at >= FPS_SETTLE:
                    self._settling = False  # packets counted after this one: intervals
                    cam._win_start, cam._win_count = now, 0
            else:
                cam._win_count += 1
            window = FPS_WINDOW if status.fps is not None else FIRST_FPS_WINDOW
            if not self._settling and now - cam._win_start >= window:
                first_fps = status.fps is None
                status.fps = cam._win_count / (now - cam._win_start)
                cam._win_start, cam._win_count = now, 0
        if first_fps:
            assert cam._loop is not None
            cam._loop.call_soon_threadsafe(cam._on_fps_known)
        if self._first:
            self._first = False
            assert cam._loop is not None
            cam._loop.call_soon_threadsafe(cam._on_first_packet)

    def decoded(self, frames: int = 1, seconds: float = 0.0) -> None:
        with self._cam._lock:
            self._cam._status.decoded += frames
            self._cam._status.decode_seconds += seconds

    def wanted(self, keyframe: bool, now: float) -> bool:
        return any(sub.wants(keyframe, now) for sub in self._cam._subs)

    def all_keyframes_only(self) -> bool:
        return all(sub.need.keyframes_only for sub in self._cam._subs)

    def frame(self, frame: Frame) -> None:
        cam = self._cam
        with cam._lock:
            cam._status.width, cam._status.height = frame.width, frame.height
        frame.mask = cam.mask
        takers = [sub for sub in cam._subs if sub.wants(frame.keyframe, frame.monotonic)]
        frame.shared = len(takers) > 1
        for sub in takers:
            sub.offer(frame)
