"""What a camera's status looks like on MQTT (real broker, real RTSP server): one availability
message per change, and a measured frame rate soon after streaming starts."""

from __future__ import annotations

import json
import time

from ..conftest import make_config, recording, running
from ..peers import free_port


def payloads(rec, topic, since: float = 0.0):
    return [json.loads(m.payload) for m in rec.on(topic, since) if m.payload]


async def test_a_camera_retrying_publishes_offline_once_not_per_retry(broker, own_rtsp, prefix):
    """A camera nobody answers goes connecting -> backoff again and again: its availability says
    ``offline`` once; when it streams, ``online`` once, however many status messages follow
    (every 2 s here); when its server dies, ``offline`` once more."""
    unreachable = f"rtsp://127.0.0.1:{free_port()}/cam"
    config = make_config(broker.port, prefix, {"down": {"url": unreachable, "open_timeout": 2},
                                               "cam": {"url": own_rtsp.url}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: [s for s in payloads(rec, f"{prefix}/down/status") if s["reconnects"] >= 3],
                       30, "three failed attempts")
        down = [m.payload for m in rec.on(f"{prefix}/down/availability")]
        assert down == [b"offline"], down

        cam_status, cam_avail = f"{prefix}/cam/status", f"{prefix}/cam/availability"
        await rec.wait(lambda: len([s for s in payloads(rec, cam_status) if s["state"] == "streaming"]) >= 3,
                       15, "three streaming status messages")
        # offline first if it was still connecting when the bridge reached the broker
        avail = [m.payload for m in rec.on(cam_avail)]
        assert avail in ([b"offline", b"online"], [b"online"]), avail

        own_rtsp.kill()
        killed = time.monotonic()
        await rec.wait(lambda: [s for s in payloads(rec, cam_status, killed) if s["reconnects"] >= 2],
                       30, "two failed attempts after the server died")
        assert [m.payload for m in rec.on(cam_avail, killed)] == [b"offline"]


async def test_the_first_streaming_status_is_followed_by_one_with_the_frame_rate(broker, rtsp, prefix):
    """The clip runs at 25 fps. The ``streaming`` status comes at once with ``fps: null``;
    within about a second a status with the measured rate follows, long before the periodic
    publish (``status_interval`` 30 s here)."""
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}}, status_interval=30)
    status = f"{prefix}/cam/status"
    async with recording(broker.port, prefix) as rec, running(config):
        first = await rec.wait(lambda: [m for m in rec.on(status) if m.payload
                                        and json.loads(m.payload)["state"] == "streaming"][:1],
                               15, "streaming")
        measured = await rec.wait(lambda: [m for m in rec.on(status, first[0].at) if m.payload
                                           and json.loads(m.payload)["fps"] is not None][:1],
                                  5, "a status with fps")
        fps = json.loads(measured[0].payload)["fps"]
        assert measured[0].at - first[0].at < 2.5, "the measured rate came late"
        assert 20 <= fps <= 30, fps
        assert json.loads(measured[0].payload)["state"] == "streaming"
