"""Snapshots and status on MQTT from a real RTSP camera."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np

from ..conftest import make_config, recording, running


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "payload is not a decodable JPEG"
    return image


async def test_snapshots_arrive_as_jpegs_and_status_streams(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {
        "front_door": {"url": rtsp.url, "snapshot": {"interval": 0}},
        "small": {"url": rtsp.url, "snapshot": {"interval": 0, "max_width": 640, "quality": 60}},
    })
    async with recording(broker.port, prefix) as rec, running(config):
        full = await rec.next_on(f"{prefix}/front_door/snapshot", 0)
        small = await rec.next_on(f"{prefix}/small/snapshot", 0)
        await rec.wait(lambda: len(rec.on(f"{prefix}/front_door/snapshot")) >= 3, 10, "3 snapshots")
        status = await rec.wait(lambda: [
            json.loads(m.payload) for m in rec.on(f"{prefix}/front_door/status")
            if json.loads(m.payload)["state"] == "streaming"], 10, "status streaming")
        avail = rec.on(f"{prefix}/front_door/availability")
    assert decode(full.payload).shape == (720, 1280, 3)
    assert decode(small.payload).shape == (360, 640, 3)
    assert full.retain is False  # live messages reach existing subscribers unretained...
    assert status[-1]["codec"] == "h264" and status[-1]["width"] == 1280
    assert avail and avail[-1].payload == b"online"
    # interval 0 = every keyframe: the clip has a keyframe per second
    times = [m.at for m in rec.on(f"{prefix}/front_door/snapshot")]
    gaps = np.diff(times)
    assert 0.6 < float(np.median(gaps)) < 1.4


async def test_snapshot_interval_is_respected(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3}}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.next_on(f"{prefix}/cam/snapshot", 0)
        start = time.monotonic()
        await rec.wait(lambda: time.monotonic() - start > 7, 10, "7 s")
    times = [m.at for m in rec.on(f"{prefix}/cam/snapshot")]
    assert 2 <= len(times) <= 4, times
    assert min(np.diff(times)) > 2.5


async def test_only_keyframes_that_become_snapshots_are_decoded(broker, rtsp, prefix):
    """interval 3 s on a 1 s GOP: about one keyframe in three is decoded, not every one."""
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3}}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.next_on(f"{prefix}/cam/snapshot", 0)
        start = time.monotonic()
        await rec.wait(lambda: time.monotonic() - start > 7, 10, "7 s")
        status = bridge.cameras["cam"].status
        snapshots = bridge.snapshots["cam"].count
    assert status.keyframes >= 7, status
    assert snapshots <= status.decoded <= snapshots + 1, (status, snapshots)
    assert status.decoded <= status.keyframes / 2, status


async def test_snapshot_set_publishes_within_one_gop_and_retained_set_is_ignored(broker, rtsp, prefix):
    import aiomqtt

    topic = f"{prefix}/cam/snapshot"
    # a retained command left on the broker must not fire when the bridge (re)subscribes
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(f"{prefix}/cam/snapshot/set", b"1", retain=True, qos=1)
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 3600}}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.next_on(topic, 0)
        quiet_from = time.monotonic()
        await rec.wait(lambda: time.monotonic() - quiet_from > 3, 5, "3 quiet seconds")
        assert len(rec.on(topic)) == 1, "a retained snapshot/set was acted on"
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            asked = time.monotonic()
            await client.publish(f"{prefix}/cam/snapshot/set", b"", qos=1)
        fresh = await rec.next_on(topic, asked, timeout=5)
    assert fresh.at - asked < 1.0 + 0.5  # one GOP is 1 s
    decode(fresh.payload)
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # clean the broker
        await client.publish(f"{prefix}/cam/snapshot/set", b"", retain=True)


async def test_snapshot_is_retained_unless_configured(broker, rtsp, prefix):
    from ..peers import retained

    config = make_config(broker.port, prefix, {
        "kept": {"url": rtsp.url},
        "live": {"url": rtsp.url, "snapshot": {"retain": False}},
    })
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.next_on(f"{prefix}/kept/snapshot", 0)
        await rec.next_on(f"{prefix}/live/snapshot", 0)
        found = await retained(broker.port, [f"{prefix}/+/snapshot"])
    assert f"{prefix}/kept/snapshot" in found
    assert f"{prefix}/live/snapshot" not in found


async def test_rtsp_over_udp_when_selected(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "transport": "udp",
                                                        "snapshot": {"interval": 0}}})
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        snap = await rec.next_on(f"{prefix}/cam/snapshot", 0)
        assert bridge.cameras["cam"].status.codec == "h264"
    assert decode(snap.payload).shape == (720, 1280, 3)
