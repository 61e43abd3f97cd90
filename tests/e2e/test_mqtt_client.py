"""The broker connection (bridge/mqtt/client.py) against a real Mosquitto: what a slow broker
does to the order of messages."""

from __future__ import annotations

import asyncio
import signal

from bridge.mqtt.client import MqttLink

from ..conftest import make_config, recording


async def _nothing() -> None:
    return None


async def test_a_slow_broker_never_lets_an_event_overtake_the_snapshot_before_it(own_broker, prefix):
    """Snapshots are coalesced (only the newest unsent one is kept), events are not. With the
    broker paused (SIGSTOP) three times while frames come, every frame's event must still arrive
    after a snapshot of that frame or a newer one: a replaced snapshot keeps its place in the
    queue instead of moving behind the events published after it."""
    config = make_config(own_broker.port, prefix, {})
    link = MqttLink(config.mqtt, will=(f"{prefix}/bridge/availability", "offline"),
                    subscriptions=[], on_message=lambda message: None, on_connect=_nothing)
    snapshot, events = f"{prefix}/cam/snapshot", f"{prefix}/cam/events"
    assert own_broker.proc is not None
    async with recording(own_broker.port, prefix) as rec, link:
        await asyncio.wait_for(link.connected.wait(), 10)
        frame = 0
        for _pause in range(3):
            own_broker.proc.send_signal(signal.SIGSTOP)
            for _ in range(10):  # 10 frames at 10 fps while the broker hangs
                link.publish(snapshot, b"%d " % frame + bytes(50_000))
                link.publish(events, b"%d" % frame, qos=1, coalesce=False)
                frame += 1
                await asyncio.sleep(0.1)
            own_broker.proc.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.5)
        await rec.wait(lambda: len(rec.on(events)) == frame, 20, f"all {frame} events")

    latest_snapshot = -1
    overtaken = []
    for message in rec.messages:
        if message.topic == snapshot:
            latest_snapshot = int(message.payload.split(b" ", 1)[0])
        elif message.topic == events:
            event_frame = int(message.payload)
            if latest_snapshot < event_frame:
                overtaken.append((event_frame, latest_snapshot))
    assert link.connects == 1, "the pauses were meant to slow the broker, not to drop the link"
    assert not overtaken, f"(event's frame, newest snapshot before it): {overtaken}"
    # coalescing still works: fewer snapshots than frames went out
    assert len(rec.on(snapshot)) < frame
