"""Cameras and brokers going away and coming back."""

from __future__ import annotations

import json
import time

from ..conftest import make_config, recording, running


def states(rec, topic):
    return [json.loads(m.payload)["state"] for m in rec.on(topic) if m.payload]


async def test_rtsp_server_killed_then_back(broker, own_rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": own_rtsp.url, "snapshot": {"interval": 0}}})
    status, avail = f"{prefix}/cam/status", f"{prefix}/cam/availability"
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.wait(lambda: "streaming" in states(rec, status), 10, "streaming")
        own_rtsp.kill()
        killed = time.monotonic()
        await rec.wait(lambda: rec.on(avail, killed) and rec.on(avail, killed)[-1].payload == b"offline",
                       10, "availability offline")
        await rec.wait(lambda: {"backoff", "connecting"} & set(
            json.loads(m.payload)["state"] for m in rec.on(status, killed)), 10, "backoff/connecting")
        down = [json.loads(m.payload) for m in rec.on(status, killed)]
        own_rtsp.start()
        back = time.monotonic()
        await rec.wait(lambda: "streaming" in [json.loads(m.payload)["state"] for m in rec.on(status, back)],
                       10, "streaming within 10 s of the server's return")
        await rec.next_on(f"{prefix}/cam/snapshot", back, timeout=5)
        assert bridge.cameras["cam"].status.reconnects >= 1
        assert rec.on(avail, back)[-1].payload == b"online"
    assert any(s["error"] for s in down if s["state"] == "backoff")


async def test_frozen_stream_is_reconnected_by_the_stall_watchdog(broker, own_rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": own_rtsp.url, "stall_timeout": 2}})
    status = f"{prefix}/cam/status"
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: "streaming" in states(rec, status), 10, "streaming")
        own_rtsp.pause()  # the TCP connection stays open, no packets come
        frozen = time.monotonic()
        try:
            await rec.wait(lambda: any(json.loads(m.payload)["state"] == "backoff"
                                       for m in rec.on(status, frozen)), 10, "backoff after a stall")
        finally:
            own_rtsp.resume()
        waited = [m for m in rec.on(status, frozen) if json.loads(m.payload)["state"] == "backoff"][0]
        assert "no packet" in json.loads(waited.payload)["error"]
        assert waited.at - frozen < 2 + 3  # stall_timeout plus the watchdog's 1 s tick and slack
        await rec.wait(lambda: "streaming" in [json.loads(m.payload)["state"] for m in rec.on(status, waited.at)],
                       15, "streaming again")


async def test_one_failing_camera_does_not_disturb_another(broker, rtsp, prefix):
    config = make_config(broker.port, prefix, {
        "good": {"url": rtsp.url, "snapshot": {"interval": 0}},
        "dead": {"url": "rtsp://127.0.0.1:9/nothing", "open_timeout": 2},
    })
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: len(rec.on(f"{prefix}/good/snapshot")) >= 5, 12, "5 snapshots")
        await rec.wait(lambda: "backoff" in states(rec, f"{prefix}/dead/status"), 10, "dead in backoff")
    times = [m.at for m in rec.on(f"{prefix}/good/snapshot")]
    assert max(b - a for a, b in zip(times, times[1:])) < 1.8  # one per 1 s GOP, never stalled


async def test_broker_restart_republishes_everything(own_broker, rtsp, prefix):
    config = make_config(own_broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 60}}})
    disc = f"{prefix}_ha/camera/{prefix}/cam/config"
    topics = [f"{prefix}/bridge/availability", f"{prefix}/cam/availability", f"{prefix}/cam/status",
              f"{prefix}/cam/snapshot", f"{prefix}/bridge/state", disc]
    async with running(config) as bridge:
        async with recording(own_broker.port, prefix) as rec:
            await rec.wait(lambda: all(rec.on(t) for t in topics), 10, "first publish")
        for _ in range(2):  # twice: the second outage must be survived like the first
            own_broker.stop()  # no persistence: every retained message is gone
            await rec_wait_disconnected(bridge)
            own_broker.start()
            async with recording(own_broker.port, prefix) as rec:
                restarted = time.monotonic()
                await rec.wait(lambda: all(rec.on(t, restarted) for t in topics), 20,
                               "availability, discovery, status and snapshot again")
                assert rec.on(f"{prefix}/bridge/availability")[-1].payload == b"online"
                assert rec.on(f"{prefix}/cam/availability")[-1].payload == b"online"
                # exactly once, not a replay of everything queued while the broker was away
                assert len(rec.on(disc, restarted)) == 1


async def rec_wait_disconnected(bridge, timeout=10.0):
    import asyncio

    deadline = time.monotonic() + timeout
    while bridge.publisher.link.connected.is_set():
        assert time.monotonic() < deadline, "bridge did not notice the broker going away"
        await asyncio.sleep(0.1)


async def test_home_assistant_birth_triggers_republish(broker, rtsp, prefix):
    import aiomqtt

    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url, "snapshot": {"interval": 60}}})
    disc = f"{prefix}_ha/camera/{prefix}/cam/config"
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{prefix}/cam/snapshot"), 10, "first snapshot")
        async with aiomqtt.Client("127.0.0.1", broker.port) as ha:
            born = time.monotonic()
            await ha.publish(f"{prefix}_ha/status", b"online")
        await rec.wait(lambda: rec.on(disc, born) and rec.on(f"{prefix}/cam/snapshot", born)
                       and rec.on(f"{prefix}/cam/status", born), 5, "re-publish after HA birth")
        assert rec.on(f"{prefix}/bridge/availability", born)[-1].payload == b"online"
        other = time.monotonic()
        async with aiomqtt.Client("127.0.0.1", broker.port) as ha:
            await ha.publish(f"{prefix}_ha/status", b"offline")
        await rec.wait(lambda: time.monotonic() - other > 1.5, 3)
        assert not rec.on(disc, other), "HA going offline must not trigger a re-publish"


async def test_clean_shutdown_marks_everything_offline(broker, rtsp, prefix):
    from ..peers import retained

    config = make_config(broker.port, prefix, {"cam": {"url": rtsp.url}})
    async with recording(broker.port, prefix) as rec, running(config):
        await rec.wait(lambda: rec.on(f"{prefix}/cam/snapshot"), 10, "first snapshot")
    found = await retained(broker.port, [f"{prefix}/#"])
    assert found[f"{prefix}/bridge/availability"] == b"offline"
    assert found[f"{prefix}/cam/availability"] == b"offline"
    assert json.loads(found[f"{prefix}/cam/status"])["state"] == "stopped"


async def test_camera_back_after_a_long_outage_streams_without_waiting_out_the_backoff(broker, own_rtsp, prefix):
    config = make_config(broker.port, prefix, {"cam": {"url": own_rtsp.url}})
    status = f"{prefix}/cam/status"
    async with recording(broker.port, prefix) as rec, running(config) as bridge:
        await rec.wait(lambda: "streaming" in states(rec, status), 10, "streaming")
        own_rtsp.kill()
        cam = bridge.cameras["cam"]
        # 4 failed attempts: the backoff now waits 8-16 s between attempts
        await rec.wait(lambda: cam.status.reconnects >= 5, 30, "5 reconnect attempts")
        own_rtsp.start()
        back = time.monotonic()
        await rec.wait(lambda: "streaming" in [json.loads(m.payload)["state"] for m in rec.on(status, back)],
                       10, "streaming within 10 s of the server's return")
        assert time.monotonic() - back < 4
