"""Capture: keyframe-only decoding, consumers sharing one connection, MJPEG passthrough, files."""

from __future__ import annotations

import asyncio
import gc
import time

import av
import cv2
import numpy as np
import pytest

from bridge.backoff import backoff_delay
from bridge.camera import Camera
from bridge.capture import Need
from bridge.config import SnapshotConfig, parse
from bridge.snapshot import SnapshotWorker, encode
from bridge.status import CameraState

from ..peers import make_clip


def camera_config(url: str, **extra):
    text = "mqtt: {host: h}\ncameras:\n  cam: " + repr({"url": url, **extra}).replace("'", '"')
    return parse(text, {}).cameras["cam"]


async def wait_until(predicate, timeout=10.0, what=""):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_snapshot_consumer_decodes_keyframes_only_and_detection_like_consumer_all(rtsp):
    async with Camera(camera_config(rtsp.url)) as cam:
        key_sub = cam.subscribe(Need(keyframes_only=True))
        await wait_until(lambda: cam.state is CameraState.STREAMING, what="streaming")
        start = cam.status
        await asyncio.sleep(3)
        mid = cam.status
        frames, keys, decoded = (mid.frames - start.frames, mid.keyframes - start.keyframes,
                                 mid.decoded - start.decoded)
        assert frames >= 60  # 25 fps arriving
        assert 2 <= keys <= 4  # GOP 1 s
        assert decoded <= keys + 1, "non-key frames were decoded while only keyframes were needed"

        all_sub = cam.subscribe(Need(keyframes_only=False, max_fps=5))
        got = []

        async def take():
            while True:
                got.append(await all_sub.next())

        taker = asyncio.create_task(take())
        await asyncio.sleep(0.5)
        got.clear()
        before = cam.status
        await asyncio.sleep(2)
        after = cam.status
        taker.cancel()
        assert after.decoded - before.decoded >= 0.8 * (after.frames - before.frames)
        assert 7 <= len(got) <= 12, "the detection-like consumer gets ~5 fps, not 25"
        assert all(isinstance(f.bgr(), np.ndarray) for f in got[:2])

        cam.unsubscribe(all_sub)
        await asyncio.sleep(1.2)  # let the decoder return to keyframes only
        again = cam.status
        await asyncio.sleep(2)
        last = cam.status
        assert last.decoded - again.decoded <= last.keyframes - again.keyframes + 1
        assert cam.status.reconnects == 0  # both consumers shared one connection
        cam.unsubscribe(key_sub)


async def test_frame_bgr_shapes_and_downscale(rtsp):
    async with Camera(camera_config(rtsp.url)) as cam:
        sub = cam.subscribe(Need())
        frame = await asyncio.wait_for(sub.next(), 10)
    full = frame.bgr()
    small = frame.bgr(max_width=320)
    assert full.shape == (720, 1280, 3) and full.dtype == np.uint8
    assert small.shape == (180, 320, 3)


async def test_a_snapshot_workers_decoded_picture_is_freed_once_published(rtsp):
    """A decoded 1080p keyframe is ~3 MiB: per camera it must not stay alive between keyframes
    (the worker kept it until the next one, ~1 MiB per camera more in the scale benchmark)."""

    def pictures() -> int:
        gc.collect()
        return sum(isinstance(o, av.VideoFrame) and o.width == 1280 for o in gc.get_objects())

    before = pictures()
    got: list[object] = []
    cam = Camera(camera_config(rtsp.url))
    async with cam, SnapshotWorker(cam, SnapshotConfig(interval=0), lambda _id, s: got.append(s)):
        for count in (1, 2, 3):
            await wait_until(lambda: len(got) >= count, what=f"snapshot {count}")
            await asyncio.sleep(0.3)  # the next keyframe is ~0.7 s away (GOP 1 s)
            assert pictures() == before, "a published keyframe's decoded picture is still alive"


@pytest.fixture(scope="module")
def mjpeg_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("mjpeg") / "mjpeg_640.avi"
    return make_clip(out, width=640, height=360, fps=10, gop=1, seconds=3,
                     codec_args=("-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p"))


def packets_of(path) -> set[bytes]:
    with av.open(str(path)) as container:
        return {bytes(p) for p in container.demux(container.streams.video[0]) if p.size}


async def test_mjpeg_snapshot_is_the_cameras_own_jpeg(mjpeg_file):
    cam = Camera(camera_config(str(mjpeg_file)))
    got = []
    async with cam, SnapshotWorker(cam, SnapshotConfig(interval=0), lambda _id, s: got.append(s)):
        await wait_until(lambda: len(got) >= 3, what="3 snapshots")
    originals = packets_of(mjpeg_file)
    assert cam.status.codec == "mjpeg"
    assert all(s.jpeg in originals for s in got), "MJPEG frames were re-encoded"
    assert cam.status.decoded == 0, "MJPEG frames were decoded for a passthrough snapshot"


async def test_mjpeg_is_reencoded_only_to_downscale(mjpeg_file):
    cam = Camera(camera_config(str(mjpeg_file)))
    got = []
    async with cam, SnapshotWorker(cam, SnapshotConfig(interval=0, max_width=320), lambda _i, s: got.append(s)):
        await wait_until(lambda: got, what="a snapshot")
    image = cv2.imdecode(np.frombuffer(got[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (180, 320, 3)
    assert got[0].jpeg not in packets_of(mjpeg_file)


async def test_file_camera_loops_at_real_time(tmp_path):
    clip = make_clip(tmp_path / "short.mp4", width=320, height=180, fps=10, gop=10, seconds=1.5)
    async with Camera(camera_config(str(clip))) as cam:
        await wait_until(lambda: cam.state is CameraState.STREAMING, what="streaming")
        await asyncio.sleep(3.5)
        status = cam.status
    assert 25 <= status.frames <= 45, "a 10 fps file should give ~35 frames in 3.5 s, looping"
    assert status.reconnects == 0


async def test_lavfi_source_gives_frames_at_its_rate():
    got = []
    cam = Camera(camera_config("lavfi:testsrc2=size=320x240:rate=10"))
    async with cam, SnapshotWorker(cam, SnapshotConfig(interval=0.5), lambda _i, s: got.append(s)):
        await asyncio.sleep(2.2)
    assert cam.status.codec == "wrapped_avframe"
    assert 3 <= len(got) <= 6
    assert cam.status.decoded <= len(got) + 2, "intra frames nobody wanted were decoded"


async def test_source_without_video_is_an_error(tmp_path):
    audio = tmp_path / "audio.wav"
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", str(audio)], check=True)
    async with Camera(camera_config(str(audio))) as cam:
        await wait_until(lambda: cam.state is CameraState.ERROR, what="error state")
        assert "no video stream" in cam.status.error


def test_encode_quality_changes_size(rtsp):
    with av.open(rtsp.url, options={"rtsp_transport": "tcp"}) as container:
        vframe = next(container.decode(video=0))
    from bridge.capture import Frame

    frame = Frame(time.time(), time.monotonic(), vframe.width, vframe.height, True, av_frame=vframe)
    low = encode(frame, SnapshotConfig(quality=20))
    high = encode(frame, SnapshotConfig(quality=95))
    assert len(low.jpeg) < len(high.jpeg)
    assert (low.width, low.height) == (1280, 720)


def test_backoff_grows_to_the_cap_with_jitter():
    assert backoff_delay(0, lambda: 0.5) == 1.0
    assert backoff_delay(3, lambda: 0.5) == 8.0
    assert backoff_delay(10, lambda: 0.5) == 30.0
    assert backoff_delay(10, lambda: 1.0) == 30.0  # capped even with jitter
    assert 1.6 <= backoff_delay(1, lambda: 0.0) < 2.0  # -20 %


class _CountingSink:
    def __init__(self) -> None:
        self.decoded_frames = 0

    def decoded(self, frames: int = 1, seconds: float = 0.0) -> None:
        self.decoded_frames += frames


def test_keyframe_decoded_alone_and_fallback_when_it_cannot_be(clip):
    """A snapshot-only camera decodes each keyframe with a decoder of its own (nothing kept
    between keyframes); a stream whose pictures do not decode alone falls back on one long-lived
    decoder, and snapshots keep coming."""
    import av

    from bridge.capture.source import _Decoder

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        packets = [p for p, _ in zip(container.demux(stream), range(120), strict=False) if p.size]
    keys = [p for p in packets if p.is_keyframe]
    others = [p for p in packets if not p.is_keyframe]
    assert len(keys) >= 2 and others
    sink = _CountingSink()
    decoder = _Decoder(stream.codec_context, sink)
    picture = decoder.decode_alone(keys[0])
    assert picture is not None and (picture.width, picture.height) == (stream.width, stream.height)
    assert decoder.alone_ok and decoder._ctx is None  # no decoder kept
    # a picture that needs earlier ones does not decode alone: the reader falls back
    assert decoder.decode_alone(others[0]) is None
    assert not decoder.alone_ok
    frames = [f for key in keys[1:] for f in decoder.decode(key, keyframe=True, every_frame=False)]
    assert frames and all(f.key_frame for f in frames)
    decoder.drop()
    assert decoder._ctx is not None, "the fallback decoder must survive drop()"
    assert sink.decoded_frames >= 1


class _ArrivalSink:
    """Every frame wanted, every frame decoded; notes when each packet was handed over."""

    def __init__(self, stop, count: int) -> None:
        self.stop, self.count = stop, count
        self.packet_times: list[float] = []
        self.frames: list[tuple[float, float]] = []  #: (frame.time, last packet time before it)

    def opened(self, info) -> None:
        pass

    def packet(self, keyframe: bool) -> None:
        self.packet_times.append(time.time())

    def compressed(self, item) -> None:
        pass

    def decoded(self, frames: int = 1, seconds: float = 0.0) -> None:
        pass

    def wanted(self, keyframe: bool, now: float) -> bool:
        return True

    def all_keyframes_only(self) -> bool:
        return False

    def frame(self, frame) -> None:
        frame.bgr()
        self.frames.append((frame.time, self.packet_times[-1]))
        if len(self.frames) >= self.count:
            self.stop.set()


def test_a_frames_time_is_its_packets_arrival_before_decode(clip):
    """Detection latency is measured from ``Frame.time`` (bench/detect_latency.py): it must be the
    packet's arrival, taken before the decode, so the decode is part of what is measured."""
    import threading

    from bridge.capture.source import StreamReader

    stop = threading.Event()
    sink = _ArrivalSink(stop, 15)
    StreamReader(camera_config(str(clip)), stop).run(sink)
    assert len(sink.frames) >= 15
    late = [(t, p) for t, p in sink.frames if t > p]
    assert not late, f"{len(late)} frames timed after their packet was handed over (after decode)"


def test_a_waiting_keyframe_decodes_after_its_stream_closed(clip):
    """A keyframe still waiting for its consumer when the camera reconnects (stream closed)
    decodes all the same."""
    import av

    from bridge.capture.source import _Decoder

    container = av.open(str(clip))
    stream = container.streams.video[0]
    key = next(p for p in container.demux(stream) if p.size and p.is_keyframe)
    decoder = _Decoder(stream.codec_context, _CountingSink())
    container.close()
    picture = decoder.decode_alone(key)
    assert picture is not None and picture.key_frame
