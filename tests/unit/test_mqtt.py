"""MQTT command handlers against a fake view and control: each command payload becomes one
control call (the same as REST and JSON-RPC); a bad payload or unknown camera calls nothing.
No broker: the publisher is never entered, messages are handed to its handler directly."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from bridge.core.events import CameraRemoved, CameraStatusChanged, EventBus, SnapshotTaken
from bridge.mqtt.camera_switch import CameraSwitchMqtt
from bridge.mqtt.publisher import MqttPublisher
from bridge.mqtt.recording import RecordingMqtt

from .fakes import FakeControl, FakeSnapshot, FakeView, make_config


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


class SentLog:
    """Stands for the broker link: every message queued, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | str, bool]] = []

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 0,
                coalesce: bool = True, guard: object = None) -> None:
        self.sent.append((topic, payload, retain))

    def on(self, topic: str) -> list[bytes | str]:
        return [payload for t, payload, _retain in self.sent if t == topic]


def sent_through(pub: MqttPublisher) -> SentLog:
    log = SentLog()
    pub.link.publish = log.publish  # type: ignore[method-assign]
    return log


async def test_home_assistant_birth_republishes_everything_from_the_view():
    pub, view, control = publisher()
    pub.add_feature(CameraSwitchMqtt(view, control, pub.link, pub.topics, pub.run_command))  # type: ignore[arg-type]
    view.snapshots["porch"] = FakeSnapshot(b"\xff\xd8jpeg")
    log = sent_through(pub)
    pub._on_message(message("homeassistant/status", b"online"))  # noqa: SLF001
    assert log.on("unit/bridge/availability") == ["online"]
    assert log.on("unit/porch/availability") == ["online"]
    assert json.loads(log.on("unit/porch/status")[0])["state"] == "streaming"
    assert log.on("unit/porch/snapshot") == [b"\xff\xd8jpeg"]
    assert log.on("unit/porch/enabled/state") == ["ON"]
    assert json.loads(log.on("unit/bridge/state")[-1])["cameras"] == {"porch": "streaming"}
    assert "unit_ha/camera/unit/porch/config" in {t for t, _p, _r in log.sent}
    # the camera's topics come before its features' and the bridge state after all of them
    topics = [t for t, _p, _r in log.sent]
    order = [topics.index(t) for t in ("unit/porch/status", "unit/porch/enabled/state", "unit/bridge/state")]
    assert order == sorted(order)


async def test_a_cameras_availability_is_published_once_per_change_and_cleared_when_removed():
    pub, view, _control = publisher()
    log = sent_through(pub)
    bus_events = [CameraStatusChanged("porch", {"state": "backoff"})] * 3
    view.status["porch"].state = "backoff"
    for event in bus_events:
        pub.on_event(event)
    assert log.on("unit/porch/availability") == ["offline"]  # not once per retry
    assert len(log.on("unit/porch/status")) == 3
    view.status["porch"].state = "streaming"
    pub.on_event(CameraStatusChanged("porch", {"state": "streaming"}))
    assert log.on("unit/porch/availability") == ["offline", "online"]
    pub.on_event(SnapshotTaken("porch", b"jpeg"))
    assert log.on("unit/porch/snapshot") == [b"jpeg"]
    config = view.cameras.pop("porch")
    pub.on_event(CameraRemoved("porch", config))
    for leaf in ("availability", "status", "snapshot", "enabled/state"):
        assert log.on(f"unit/porch/{leaf}")[-1] == b"", leaf
    assert json.loads(log.on("unit/bridge/state")[-1])["cameras"] == {}


async def test_in_cluster_mode_a_camera_whose_lease_is_lost_is_not_published():
    pub, _view, _control = publisher()
    pub.may_publish = lambda cam_id: False
    log = sent_through(pub)
    pub.on_event(CameraStatusChanged("porch", {"state": "streaming"}))
    pub.on_event(SnapshotTaken("porch", b"jpeg"))
    pub.cameras.publish_all()
    assert [t for t, _p, _r in log.sent if t.startswith("unit/porch/")] == []
