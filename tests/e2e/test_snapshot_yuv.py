"""Snapshots made from the decoder's YUV planes look like the BGR path's: same size and
orientation, PSNR >= 40 dB on the shared footage, correct colours for full- and limited-range
sources and for every pixel format a camera or hardware decoder delivers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from bridge.capture import Frame
from bridge.config import SnapshotConfig
from bridge.snapshot import ENCODER, EncoderPool, default_threads, encode

MEDIA = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "media"
#: patch colours (RGB), left to right: an asymmetric layout, so a flip or mirror shows
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (200, 150, 50),
           (128, 128, 128), (30, 200, 220)]
PATCH = 32  # pixels per patch side: 4:2:0 chroma and JPEG blocks stay inside it


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def jpeg_image(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def old_snapshot(frame: Frame, config: SnapshotConfig) -> np.ndarray:
    """Today's path before YUV: BGR conversion (+ area downscale), cv2.imencode, decoded."""
    ok, buf = cv2.imencode(".jpg", frame.bgr(config.max_width),
                           [cv2.IMWRITE_JPEG_QUALITY, config.quality])
    assert ok
    return jpeg_image(buf.tobytes())


def keyframes(path: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        out = []
        for vframe in container.decode(video=0):
            if vframe.key_frame:
                out.append(vframe)
                if len(out) == count:
                    break
    return out


@pytest.mark.parametrize("max_width", [None, 640])
def test_footage_snapshots_match_the_bgr_path(max_width):
    config = SnapshotConfig(interval=0, max_width=max_width, quality=80)
    frames = keyframes(MEDIA / "pedestrians_720p.mp4", 6)
    assert len(frames) == 6
    assert frames[0].format.name == "yuv420p" and frames[0].color_range != 2  # limited range
    for vframe in frames:
        frame = Frame(0.0, 0.0, vframe.width, vframe.height, True, av_frame=vframe)
        snap = encode(frame, config)
        new, old = jpeg_image(snap.jpeg), old_snapshot(frame, config)
        assert new.shape == old.shape == (snap.height, snap.width, 3)
        assert (snap.width, snap.height) == ((1280, 720) if max_width is None else (640, 360))
        assert psnr(new, old) >= 40.0, psnr(new, old)


def patches() -> np.ndarray:
    """RGB test picture: one row of colour patches."""
    rgb = np.zeros((PATCH * 2, PATCH * len(COLOURS), 3), np.uint8)
    for i, colour in enumerate(COLOURS):
        rgb[:, i * PATCH:(i + 1) * PATCH] = colour
    return rgb


def source_frame(pix_fmt: str, full: bool) -> av.VideoFrame:
    """The test picture as a decoder would hand it over: ``pix_fmt``, BT.601, tagged range."""
    rgb = av.VideoFrame.from_ndarray(patches(), format="rgb24")
    return rgb.reformat(format=pix_fmt, dst_colorspace="ITU601",
                        dst_color_range=2 if full else 1)


FORMATS = [("yuv420p", False), ("yuv420p", True), ("yuvj420p", True), ("yuv422p", False),
           ("yuvj422p", True), ("yuv444p", False), ("yuv420p10le", False), ("yuv422p10le", False),
           ("nv12", False), ("nv12", True), ("gray", True)]


@pytest.mark.parametrize(("pix_fmt", "full"), FORMATS, ids=[f"{f}-{'full' if r else 'limited'}"
                                                            for f, r in FORMATS])
@pytest.mark.parametrize("max_width", [None, 128])
def test_colours_are_right_for_every_pixel_format_and_range(pix_fmt, full, max_width):
    vframe = source_frame(pix_fmt, full)
    assert vframe.format.name == pix_fmt
    frame = Frame(0.0, 0.0, vframe.width, vframe.height, True, av_frame=vframe)
    snap = encode(frame, SnapshotConfig(interval=0, max_width=max_width, quality=95))
    image = jpeg_image(snap.jpeg)[:, :, ::-1]  # RGB
    scale = 1 if max_width is None else max_width / vframe.width
    assert image.shape == (round(PATCH * 2 * scale), round(PATCH * len(COLOURS) * scale), 3)
    gray = pix_fmt == "gray"
    for i, colour in enumerate(COLOURS):
        centre = image[image.shape[0] // 2, int((i + 0.5) * PATCH * scale)].astype(int)
        expected = np.array(colour if not gray else [round(np.dot(colour, (0.299, 0.587, 0.114)))] * 3)
        assert np.abs(centre - expected).max() <= 6, (i, colour, centre.tolist())


def test_a_limited_range_source_is_not_washed_out():
    """Black stays black and white white: the limited range (16-235) is expanded."""
    vframe = source_frame("yuv420p", full=False)
    y = np.frombuffer(vframe.planes[0], np.uint8)
    assert y.min() >= 16 and y.max() <= 235  # really limited
    frame = Frame(0.0, 0.0, vframe.width, vframe.height, True, av_frame=vframe)
    image = jpeg_image(encode(frame, SnapshotConfig(interval=0, quality=95)).jpeg)
    assert image[PATCH, int(4.5 * PATCH)].max() <= 3  # black patch
    assert image[PATCH, int(3.5 * PATCH)].min() >= 252  # white patch


def test_mjpeg_frames_pass_through_or_are_scaled():
    jpeg = cv2.imencode(".jpg", patches()[:, :, ::-1].copy())[1].tobytes()
    frame = Frame(0.0, 0.0, PATCH * len(COLOURS), PATCH * 2, True, jpeg=jpeg)
    assert encode(frame, SnapshotConfig(interval=0)).jpeg is jpeg
    small = encode(frame, SnapshotConfig(interval=0, max_width=128, quality=95))
    image = jpeg_image(small.jpeg)[:, :, ::-1]
    assert image.shape == (32, 128, 3) and (small.width, small.height) == (128, 32)
    assert np.abs(image[16, 8].astype(int) - COLOURS[0]).max() <= 8


def test_encoder_pool_size():
    assert 1 <= default_threads() <= 4
    pool = EncoderPool(1)
    pool.configure(3)
    assert pool.threads == 3 and pool.submit(lambda x: x + 1, 1).result(5) == 2
    pool.configure(None)
    assert pool.threads == default_threads()
    pool.shutdown()
    assert ENCODER.threads >= 1


@pytest.mark.parametrize("api", [False, True])
def test_a_snapshot_only_bridge_never_imports_opencv_or_onnxruntime(tmp_path, broker, rtsp, api):
    """In a fresh interpreter: a bridge whose camera only makes snapshots publishes a snapshot
    without importing cv2 or onnxruntime; aiohttp and prometheus_client only with the API on."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from bridge.app import Bridge
        from bridge.config import parse

        config = parse('''
        data_dir: {tmp_path}
        mqtt: {{host: 127.0.0.1, port: {broker.port}, base_topic: lazy{tmp_path.name[-6:]}}}
        api: {{enabled: {str(api).lower()}, port: 0}}
        cameras:
          cam: {{url: "{rtsp.url}", snapshot: {{interval: 0}}}}
        ''')

        async def main():
            async with Bridge(config) as bridge:
                snap = await asyncio.wait_for(bridge.snapshots["cam"].next_snapshot(), 20)
                assert snap.jpeg[:2] == b"\\xff\\xd8"
            print(sorted(m for m in ("cv2", "onnxruntime", "aiohttp", "prometheus_client")
                         if m in sys.modules))

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = ["aiohttp", "prometheus_client"] if api else []
    assert out.stdout.strip().splitlines()[-1] == str(expected), out.stdout
