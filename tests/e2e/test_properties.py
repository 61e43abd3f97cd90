"""Property-based tests (hypothesis) of the JSON-RPC framing and the redaction/parsing helpers on
adversarial inputs, each example under a time bound (hypothesis' ``deadline``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from datetime import timedelta

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.api import rpc, wire
from bridge.api.httplog import _reason
from bridge.mediamtx.paths import duration_seconds
from bridge.redact import _URL_CREDENTIALS, mask_url

BOUNDED = settings(max_examples=300, deadline=timedelta(milliseconds=500),
                   suppress_health_check=[HealthCheck.too_slow])

#: the pattern before issue 12 (quadratic): what must be masked, on inputs short enough for it
_OLD_URL_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^/\s]*)@")

URLISH = st.text(alphabet="aZ1+.-:/@ ?&=#%\t\n\\\"[]{}x", max_size=60)
NASTY = st.one_of(URLISH, st.text(max_size=200),
                  st.builds(lambda unit, n: unit * n, URLISH.filter(bool), st.integers(1, 2000)))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=40)


@BOUNDED
@given(URLISH)
def test_url_masking_masks_what_the_old_pattern_masked(text):
    def mask(m):
        return f"{m.group('head')}***@"
    assert _URL_CREDENTIALS.sub(mask, text) == _OLD_URL_CREDENTIALS.sub(mask, text)


@BOUNDED
@given(NASTY)
def test_mask_url_is_fast_and_total(text):
    masked = mask_url(text)
    assert isinstance(masked, str)
    assert mask_url(masked) == masked  # masking twice changes nothing more


@BOUNDED
@given(NASTY)
def test_duration_parsing_is_fast_and_total(text):
    value = duration_seconds(text)
    assert value is None or value >= 0


@BOUNDED
@given(json_values)
def test_loads_reads_back_what_strict_json_wrote(value):
    text = json.dumps(value)
    assert wire.loads(text) == value
    assert wire.loads(text.encode()) == value


@BOUNDED
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.builds(lambda a, n, b: a * n + b, st.sampled_from(["[", "{\"a\":", "[\"\\\"", "1e9"]),
                           st.integers(0, 5000), st.text(max_size=10))))
def test_loads_raises_only_wire_errors(frame):
    try:
        value = wire.loads(frame)
    except wire.WireError as err:
        assert len(str(err)) < 400  # a clipped, one-sentence reason
        return
    assert wire.dumps(value)  # whatever it accepts is strict JSON again
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _scalars(value))


def _scalars(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item


def _request():
    method = st.one_of(st.sampled_from(["rpc.discover", "auth", "cameras.list", "no.such"]),
                       st.text(max_size=300))
    rid = st.one_of(st.none(), st.integers(-(2**60), 2**60), st.text(max_size=200),
                    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.just([]))
    params = st.one_of(st.none(), st.dictionaries(st.text(max_size=10), json_values, max_size=3),
                       st.lists(json_values, max_size=3), st.text(max_size=5))
    return st.fixed_dictionaries({"jsonrpc": st.sampled_from(["2.0", "1.0"]), "method": method},
                                 optional={"id": rid, "params": params})


FRAMES = st.one_of(
    _request().map(json.dumps),
    st.lists(_request(), max_size=4).map(json.dumps),
    st.text(max_size=200),
    st.builds(lambda a, n: a * n, st.sampled_from(["[", "[{}", "{\"jsonrpc\":", "NaN,"]), st.integers(0, 3000)),
)


@settings(max_examples=200, deadline=timedelta(milliseconds=500), suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES)
def test_every_frame_gets_a_strict_json_rpc_answer_or_none(frame):
    """An unauthenticated connection (no bridge behind it: only auth and rpc.discover may run):
    whatever the frame, the answer is None or JSON-RPC 2.0 reply objects that are strict JSON,
    never an exception."""
    conn = rpc.Connection(None, None, None, None)  # type: ignore[arg-type]
    reply = asyncio.run(conn.handle(frame))
    if reply is None:
        return
    items = reply if isinstance(reply, list) else [reply]
    wire.dumps(reply)  # strict JSON (raises on NaN/Infinity)
    # untrusted text is never echoed back whole: all but rpc.discover's document (the bridge's own
    # text, which grows with its methods) stays small whatever the frame
    echoed = [item for item in items if not (isinstance(item.get("result"), dict) and "methods" in item["result"])]
    assert len(wire.dumps(echoed)) < 20_000
    for item in items:
        assert item["jsonrpc"] == "2.0" and "id" in item and ("result" in item) != ("error" in item)
        if "error" in item:
            assert isinstance(item["error"]["code"], int) and item["error"]["message"]
            assert item["error"]["code"] != rpc.METHOD_NOT_FOUND  # never told what exists


@BOUNDED
@given(st.text(max_size=500))
def test_malformed_request_reasons_are_one_printable_line(message):
    from aiohttp.http_exceptions import BadHttpMessage

    reason = _reason(BadHttpMessage(message))
    assert "\n" not in reason and reason.isprintable() and len(reason) < 120


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


_PUBLISHER: list = []


def _mqtt_publisher():
    """One publisher with the camera switch over a fake view and control (made once: the calls
    and runs are emptied for each example)."""
    if _PUBLISHER:
        pub, control, runs = _PUBLISHER[0]
        control.calls.clear()
        runs.clear()
        return pub, control, runs
    from bridge.core.events import EventBus
    from bridge.mqtt.camera_switch import CameraSwitchMqtt
    from bridge.mqtt.publisher import MqttPublisher

    from ..unit.fakes import FakeControl, FakeView, make_config

    config = make_config({"porch": {"url": "rtsp://192.0.2.10/stream"}})
    view = FakeView(config)
    view.detections["porch"] = {"camera": "porch", "enabled": True}
    control = FakeControl(view)
    pub = MqttPublisher(config.mqtt, view, bus=EventBus(), control=control)
    runs: list = []
    pub.add_feature(CameraSwitchMqtt(view, control, pub.link, pub.topics, lambda coro, name: runs.append(coro)))
    _PUBLISHER.append((pub, control, runs))
    return pub, control, runs


LEAVES = st.sampled_from(["snapshot/set", "detect/set", "enabled/set", "record/set", "set", "status"])
CAMERAS = st.one_of(st.sampled_from(["porch", "garage", "", "a/b"]), st.text(max_size=300))


#: the first example also builds the publisher (imports, once): a looser bound than BOUNDED's
MQTT_BOUNDED = settings(max_examples=300, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])


@MQTT_BOUNDED
@given(CAMERAS, LEAVES, st.one_of(st.sampled_from([b"ON", b"off", b"", b"start"]), st.binary(max_size=5000)))
def test_mqtt_commands_never_raise_and_each_is_at_most_one_call_and_one_short_audit_line(camera, leaf, payload):
    import aiomqtt

    topic = f"unit/{camera}/{leaf}"
    try:
        message = aiomqtt.Message(topic, payload, qos=0, retain=False, mid=1, properties=None)
    except ValueError:  # a topic no broker delivers (wildcards)
        assume(False)
    pub, control, runs = _mqtt_publisher()
    lines = _Lines()
    audit_log = logging.getLogger("bridge.audit")
    audit_log.addHandler(lines)
    level, audit_log.level = audit_log.level, logging.INFO
    try:
        pub._on_message(message)
        for coro in runs:  # a switch runs as a task in the publisher: here at once
            with contextlib.suppress(StopIteration):
                coro.send(None)  # the fake control does not wait: the coroutine ends at once
    finally:
        audit_log.removeHandler(lines)
        audit_log.level = level
    assert len(control.calls) <= 1
    assert len(lines.lines) <= 1 and all("\n" not in line and len(line) < 1000 for line in lines.lines)
    for line in lines.lines:
        entry = json.loads(line.removeprefix("audit "))
        assert entry["via"] == "mqtt" and entry["value"] in (None, "ON", "OFF")
    if control.calls:
        assert len(lines.lines) == 1 and json.loads(lines.lines[0].removeprefix("audit "))["result"] == "ok"


# -- configuration loading: any YAML gives a Config or a ConfigError naming key paths, fast ---------

VALID_CONFIG = {
    "mqtt": {"host": "127.0.0.1", "port": 1883, "base_topic": "camera_bridge", "discovery": True},
    "api": {"enabled": True, "port": 8765},
    "cameras": {
        "front_door": {"url": "rtsp://user:pw@192.0.2.20:554/stream1", "name": "Front door",
                       "snapshot": {"interval": 5, "quality": 80, "max_width": 1280},
                       "detect": {"enabled": False, "fps": 5}},
        "garage": {"streams": [{"url": "rtsp://192.0.2.21/main", "roles": ["snapshot", "timelapse", "restream",
                                                                         "record"]},
                               {"url": "rtsp://192.0.2.21/sub", "roles": ["detect"]}]},
    },
}


def _leaves(value: object, path: tuple = ()) -> list[tuple]:
    """Every key path to a leaf of ``value`` (dict keys and list indexes)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _replaced(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)  # type: ignore[call-overload]
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


LEAF_PATHS = _leaves(VALID_CONFIG)
ODD_VALUES = st.one_of(json_values, st.sampled_from(["", "1280px", "-1", "1e999", "nan", "rtsp://", "🙂" * 50,
                                                      "x" * 5000, None, [], {}]))


def _parse_dump(data: object) -> tuple[object, list[str]]:
    """``parse`` of ``data`` dumped as YAML: (the Config or None, the error lines)."""
    from bridge.config import ConfigError, parse

    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        return parse(text, {}), []
    except ConfigError as err:
        return None, err.errors


@BOUNDED
@given(st.sampled_from(LEAF_PATHS), ODD_VALUES)
def test_a_bad_value_anywhere_in_a_config_is_an_error_naming_its_key_path(path, value):
    config, errors = _parse_dump(_replaced(VALID_CONFIG, path, value))
    if config is not None:
        return  # the value is valid there (e.g. another valid quality)
    dotted = ".".join(str(p) for p in path)
    # a problem is reported at the key path of the value, or at one of its parents (a wrong type
    # of list element) or a sibling it conflicts with (roles of streams): never at an unrelated key
    prefixes = {".".join(str(p) for p in path[:n]) for n in range(1, len(path) + 1)}
    assert errors and all(": " in line and len(line) < 2000 for line in errors), errors
    assert any(line.split(": ", 1)[0].split("[")[0] in prefixes | {dotted} or
               line.startswith(".".join(str(p) for p in path[:2])) for line in errors), (dotted, errors)


CONFIG_KEYS = st.sampled_from(["mqtt", "cameras", "api", "detect", "timelapse", "timelapses", "mediamtx", "usb",
                               "cluster", "audit", "log_level", "data_dir", "url", "streams", "snapshot", "host",
                               "port", "x", ""])
config_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=30) | st.floats(allow_nan=True),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(CONFIG_KEYS | st.text(max_size=6), children,
                                                                       max_size=5),
    max_leaves=30)


@BOUNDED
@given(st.dictionaries(CONFIG_KEYS, config_like, max_size=6))
def test_any_config_shaped_data_gives_a_config_or_error_lines_with_a_key_path(data):
    _config, errors = _parse_dump(data)
    assert all(isinstance(line, str) and ": " in line and "\n" not in line.strip() for line in errors), errors


YAMLISH = st.text(alphabet="ab: -\n\t[]{}&*!#|>'\"%@`,?0123456789.", max_size=300)


@BOUNDED
@given(st.one_of(YAMLISH, st.text(max_size=300)))
def test_any_text_as_a_config_file_raises_only_config_errors(text):
    from bridge.config import ConfigError, parse

    with contextlib.suppress(ConfigError):
        parse(text, {})
