"""MQTT command handlers against a fake view and control: each command payload becomes one
control call (the same as REST and JSON-RPC); a bad payload or unknown camera calls nothing.
No broker: the publisher is never entered, messages are handed to its handler directly."""

from __future__ import annotations

import asyncio

import aiomqtt

from bridge.core.events import EventBus
from bridge.mqtt.camera_switch import CameraSwitchMqtt
from bridge.mqtt.publisher import MqttPublisher
from bridge.mqtt.recording import RecordingMqtt

from .fakes import FakeControl, FakeView, make_config


def publisher() -> tuple[MqttPublisher, FakeView, FakeControl]:
    config = make_config({"porch": {"url": "rtsp://192.0.2.10/stream"}})
    view = FakeView(config)
    control = FakeControl(view)
    pub = MqttPublisher(config.mqtt, view, bus=EventBus(), control=control)  # type: ignore[arg-type]
    return pub, view, control


def message(topic: str, payload: bytes, *, retain: bool = False) -> aiomqtt.Message:
    return aiomqtt.Message(topic, payload, qos=0, retain=retain, mid=1, properties=None)


async def test_snapshot_and_detection_commands_call_the_control():
    pub, view, control = publisher()
    view.detections["porch"] = {"camera": "porch", "enabled": True}
    pub._on_message(message("unit/porch/snapshot/set", b""))  # noqa: SLF001 - the message handler
    pub._on_message(message("unit/porch/detect/set", b"off"))  # noqa: SLF001
    pub._on_message(message("unit/garage/snapshot/set", b""))  # noqa: SLF001 - unknown: ignored
    assert control.calls == [("request_snapshot", ("porch",)), ("set_detection", ("porch", False))]


async def test_a_retained_command_is_never_acted_on():
    pub, _view, control = publisher()
    pub._on_message(message("unit/porch/snapshot/set", b"", retain=True))  # noqa: SLF001
    assert control.calls == []


async def test_the_camera_switch_calls_set_enabled_and_ignores_bad_payloads():
    pub, view, control = publisher()
    commands: list[tuple[str, object]] = []
    switch = CameraSwitchMqtt(view, control, pub.link, pub.topics,  # type: ignore[arg-type]
                              lambda coro, name: commands.append((name, coro)))
    assert switch.on_message("unit/porch/enabled/set", b"maybe")
    assert switch.on_message("unit/garage/enabled/set", b"ON")  # unknown camera: nothing runs
    assert switch.on_message("unit/porch/enabled/set", b"OFF")
    assert not switch.on_message("unit/porch/record/set", b"OFF")  # not its topic
    assert [name for name, _coro in commands] == ["mqtt.camera_switch[porch]"]
    await commands[0][1]  # the publisher runs it in its task group
    assert control.calls == [("set_enabled", ("porch", False))]


async def test_recording_commands_are_applied_one_at_a_time_by_the_control():
    pub, view, control = publisher()
    view.recording_on = {}
    feature = RecordingMqtt(view, control, pub)  # type: ignore[arg-type]
    assert feature.on_message("unit/porch/record/set", b"ON")
    assert feature.on_message("unit/garage/record/set", b"OFF")  # unknown camera: refused, loop goes on
    assert feature.on_message("unit/porch/record/set", b"off")
    runner = asyncio.create_task(feature.loops()["mqtt.recording"], name="test.recording")
    try:
        for _ in range(50):
            if len(control.calls) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
    assert control.calls == [("set_recording", ("porch", True)), ("set_recording", ("porch", False))]
    assert view.recording_on == {"porch": False}
