"""Configuration: validation errors with key paths, environment values, masking, CLI exit codes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.config import ConfigError, load, parse

GOOD = """
mqtt:
  host: 127.0.0.1
cameras:
  front_door:
    url: rtsp://user:pw@192.0.2.20:554/stream1
"""


def errors_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ or {})
    return info.value.errors


def test_defaults_fill_a_minimal_config():
    config = parse(GOOD, {})
    cam = config.cameras["front_door"]
    assert (config.mqtt.port, config.mqtt.base_topic, config.mqtt.discovery_prefix) == (
        1883, "camera_bridge", "homeassistant")
    assert (cam.transport, cam.stall_timeout, cam.snapshot.interval, cam.snapshot.retain) == ("tcp", 10.0, 2.0, True)
    assert cam.display_name == "Front door"


@pytest.mark.parametrize(("text", "expected"), [
    ("mqtt: {host: h}\ncameras: {cam: {url: lavfi:x, colour: red}}",
     "cameras.cam.colour: unknown key; allowed: name, url, device, streams, transport, open_timeout, stall_timeout, "
     "input_format, video_size, framerate, privacy_masks, snapshot, event_snapshot, timelapse, detect"),
    ("mqtt: {host: h}\ncameras: {front_door: {url: 'ftp://x'}}",
     "cameras.front_door.url: expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN, "
     "got 'ftp://x'"),
    ("mqtt: {port: 1883}\ncameras: {}",
     "mqtt.host: required key missing (a non-empty string: Broker host name or address.)"),
    ("mqtt: {host: h}\ncameras:\n  cam: {url: 'lavfi:a'}\n  cam: {url: 'lavfi:b'}",
     "cameras.cam: duplicate camera id (line 4)"),
    ("mqtt: {host: h}\ncameras: {Front-Door: {url: 'lavfi:a'}}",
     "cameras.Front-Door: invalid camera id, expected a slug [a-z0-9_]+"),
    ("mqtt: {host: h, port: many}\ncameras: {}", "mqtt.port: expected an integer from 1 to 65535, got 'many'"),
    ("mqtt: {host: h}\ncameras: {cam: {url: 'lavfi:a', snapshot: {quality: 101}}}",
     "cameras.cam.snapshot.quality: expected an integer from 1 to 100, got 101"),
    ("mqtt: {host: h}\ncameras: {cam: {url: 'lavfi:a', transport: quic}}",
     "cameras.cam.transport: expected one of tcp, udp, got 'quic'"),
    ("mqtt: {host: h}\ncameras: {cam: {name: x}}", "cameras.cam: set exactly one of url, device and streams"),
    ("mqtt: {host: h}\ncameras: {cam: {device: /dev/sda}}",
     "cameras.cam.device: expected a V4L2 device node: /dev/videoN or /dev/v4l/by-id/... (by-path), got '/dev/sda'"),
    ("mqtt: {host: h}\ncameras: [a, b]", "cameras: expected a mapping of camera id to camera, got a list"),
    ("mqtt: {host: h, password: !env NOPE_PW}\ncameras: {}",
     "mqtt.password: environment variable NOPE_PW is not set"),
])
def test_each_error_names_its_key_path(text, expected):
    assert expected in errors_of(text)


def test_every_error_is_reported_at_once():
    errors = errors_of("mqtt: {port: x}\ncameras: {a: {url: 'ftp://'}, b: {url: 'lavfi:x', bogus: 1}}")
    assert len(errors) == 4, errors  # host missing, port type, a.url, b.bogus


def test_missing_file_source_is_an_error(tmp_path):
    text = f"mqtt: {{host: h}}\ncameras: {{cam: {{url: {tmp_path}/missing.mp4}}}}"
    assert any(e.startswith("cameras.cam.url: no such file") for e in errors_of(text))


def test_env_tag_and_overrides():
    text = "mqtt: {host: h, password: !env PW, port: !env PORT:1884}\ncameras: {}"
    config = parse(text, {"PW": "s3cret", "CAMERA_BRIDGE_MQTT__HOST": "broker.lan",
                          "CAMERA_BRIDGE_MQTT__DISCOVERY": "false", "CAMERA_BRIDGE_LOG_LEVEL": "DEBUG",
                          "CAMERA_BRIDGE_CONFIG": "/not/an/option"})
    assert config.mqtt.password == "s3cret"
    assert config.mqtt.port == 1884
    assert config.mqtt.host == "broker.lan"
    assert config.mqtt.discovery is False
    assert config.log_level == "debug"


def test_env_override_reaches_a_camera():
    config = parse(GOOD, {"CAMERA_BRIDGE_CAMERAS__FRONT_DOOR__SNAPSHOT__INTERVAL": "5"})
    assert config.cameras["front_door"].snapshot.interval == 5.0


def test_usb_url_and_device_are_both_usb():
    config = parse("mqtt: {host: h}\ncameras: {a: {device: /dev/video0}, b: {url: /dev/video2},"
                   " c: {device: /dev/v4l/by-id/usb-046d_0825_ABC123-video-index0}}", {})
    assert config.cameras["a"].kind == config.cameras["b"].kind == config.cameras["c"].kind == "usb"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_check_config_prints_masked_config(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD.replace("host: 127.0.0.1", "host: 127.0.0.1\n  password: !env PW"))
    result = run_cli("check-config", "--config", str(cfg), env={"PW": "hunter22", "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert "hunter22" not in result.stdout and ":pw@" not in result.stdout
    assert "rtsp://user:***@192.0.2.20:554/stream1" in result.stdout
    assert "password: '***'" in result.stdout
    assert load(cfg, {"PW": "x"}).cameras["front_door"].url.endswith("/stream1")


class Listener:
    """A TCP port that records whether anything connected (stands in for broker and camera)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_bad_config_exits_2_naming_the_key_and_connects_nothing(tmp_path: Path, command: str):
    listener = Listener()
    try:
        cfg = tmp_path / "bad.yaml"
        cfg.write_text(
            f"mqtt: {{host: 127.0.0.1, port: {listener.port}}}\n"
            f"cameras:\n  ok: {{url: 'rtsp://127.0.0.1:{listener.port}/s'}}\n"
            "  front_door: {url: 'ftp://nowhere'}\n"
        )
        result = run_cli(command, "--config", str(cfg))
        time.sleep(0.3)
        assert result.returncode == 2
        assert "cameras.front_door.url: expected rtsp://" in result.stderr
        assert listener.connections == 0, "a process with a bad config connected somewhere"
    finally:
        listener.close()


def test_unreadable_config_file_exits_2(tmp_path: Path):
    result = run_cli("run", "--config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_camera_ids_that_collide_with_the_bridge_are_refused():
    assert "cameras.bridge: camera id 'bridge' is reserved for the bridge" in errors_of(
        "mqtt: {host: h}\ncameras: {bridge: {url: 'lavfi:a'}}")
    assert any(e.startswith("cameras.camera_bridge: camera id equals the bridge's node id")
               for e in errors_of("mqtt: {host: h}\ncameras: {camera_bridge: {url: 'lavfi:a'}}"))


def test_missing_source_is_reported_with_the_other_errors_of_the_camera():
    errors = errors_of("mqtt: {host: h}\ncameras: {cam: {transport: quic}}")
    assert "cameras.cam: set exactly one of url, device and streams" in errors
    assert any(e.startswith("cameras.cam.transport:") for e in errors)


def test_api_auth_rules():
    base = "mqtt: {host: h}\ncameras: {}\napi: "
    assert any("needs api.keys or api.jwt_secret" in e for e in errors_of(base + "{host: 0.0.0.0}"))
    assert any("api.auth is required" in e for e in errors_of(base + "{auth: required}"))
    # a host *name* starting with 127. is not loopback
    assert any("needs api.keys" in e for e in errors_of(base + "{host: 127.example.com}"))
    assert parse(base + "{auth: off}", {}).api.auth == "off"  # a bare YAML off reads as false
    assert parse(base + "{host: 127.0.0.2}", {}).api.auth_required is False


# ---------------------------------------------------------------------------------------------
# errors that say how to fix them: the key path, the value found (secrets masked), what is
# allowed, "did you mean" for a misspelt key, and where a YAML syntax error is


def test_unknown_key_suggests_the_closest_known_key_and_lists_the_allowed_ones():
    errors = errors_of(GOOD + "    snapshot: {intervall: 5}\n")
    assert errors == ["cameras.front_door.snapshot.intervall: unknown key (did you mean interval?); "
                      "allowed: interval, max_width, quality, retain"]
    top = errors_of(GOOD.replace("mqtt:", "mqt:"))
    assert any(e.startswith("mqt: unknown key (did you mean mqtt?); allowed: log_level,") for e in top)
    # nothing close: no suggestion, still the keys allowed there
    assert errors_of(GOOD + "    zzz: 1\n")[0].startswith("cameras.front_door.zzz: unknown key; allowed: name, url,")


def test_a_bad_value_is_shown_with_what_is_allowed():
    errors = errors_of(GOOD + "    snapshot: {max_width: 1280px, quality: 0}\n    transport: quic\n")
    assert errors == [
        "cameras.front_door.snapshot.max_width: expected an integer from 16 to 7680, or null, got '1280px'",
        "cameras.front_door.snapshot.quality: expected an integer from 1 to 100, got 0",
        "cameras.front_door.transport: expected one of tcp, udp, got 'quic'",
    ]


def test_a_value_from_the_environment_is_shown_as_found():
    assert errors_of(GOOD, {"CAMERA_BRIDGE_MQTT__PORT": "eighty"}) == [
        "mqtt.port: expected an integer from 1 to 65535, got 'eighty'"]


def test_secrets_in_errors_are_masked():
    errors = errors_of("mqtt: {host: h}\ncameras: {cam: {url: 'ftp://admin:Cam-Pw-77@192.0.2.1/s'}}\n"
                       "api: {jwt_secret: Short-Jwt-Pw}\nmqtt_pasword: Mqtt-Pw-99\n")
    text = "\n".join(errors)
    assert "Cam-Pw-77" not in text and "Short-Jwt-Pw" not in text and "Mqtt-Pw-99" not in text
    assert "cameras.cam.url: expected rtsp://, rtsps://, http(s)://, a file path, lavfi:... or /dev/videoN, " \
           "got 'ftp://admin:***@192.0.2.1/s'" in errors
    assert "api.jwt_secret: expected a string of at least 32 characters, or null, got '***'" in errors


def test_a_rule_across_options_does_not_blame_a_valid_value():
    assert errors_of("mqtt: {host: h}\ncameras: {}\napi: {host: 0.0.0.0, auth: 'off'}") == [
        "api.auth: auth: off is only allowed on a loopback host"]


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path):
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("mqtt:\n  host: h\n  port: [1\ncameras: {}\n")
    with pytest.raises(ConfigError) as err:
        load(cfg, {})
    assert err.value.errors == [f"{cfg}:4:8: invalid YAML: expected ',' or ']', but got ':' "
                                "(while parsing a flow sequence at line 3, column 9)"]
    assert "<unicode string>" not in str(err.value)


def test_api_camera_bodies_get_the_same_messages():
    from bridge.config import camera_from_data

    with pytest.raises(ConfigError) as err:
        camera_from_data("shed", {"url": "rtsp://u:Api-Pw-5@192.0.2.9/s", "open_timeout": "soon",
                                  "snapshot": {"qualty": 50}})
    assert err.value.errors == [
        "cameras.shed.open_timeout: expected a number greater than 0, got 'soon'",
        "cameras.shed.snapshot.qualty: unknown key (did you mean quality?); "
        "allowed: interval, max_width, quality, retain",
    ]


def test_check_config_prints_how_to_fix_each_error(tmp_path: Path):
    """What a user sees running ``camera-bridge check-config`` on a config with typos."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("mqtt:\n  host: 127.0.0.1\n  pasword: !env PW\n  port: 1883x\n"
                   "cameras:\n  front_door:\n    url: rtsp://viewer:Cli-Cam-Pw@192.0.2.20/s\n"
                   "    snapshot:\n      intervall: 5\n      max_width: 1280px\n")
    result = run_cli("check-config", "--config", str(cfg), env={"PW": "Cli-Mqtt-Pw", "PATH": "/usr/bin"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"configuration {cfg} is invalid:",
        "  cameras.front_door.snapshot.intervall: unknown key (did you mean interval?); "
        "allowed: interval, max_width, quality, retain",
        "  cameras.front_door.snapshot.max_width: expected an integer from 16 to 7680, or null, got '1280px'",
        "  mqtt.pasword: unknown key (did you mean password?); allowed: host, port, username, password, client_id, "
        "keepalive, base_topic, discovery, discovery_prefix, ha_status_topic, status_interval",
        "  mqtt.port: expected an integer from 1 to 65535, got '1883x'",
    ]
    assert "Cli-Mqtt-Pw" not in result.stderr + result.stdout and "Cli-Cam-Pw" not in result.stderr


def test_check_config_names_the_place_of_a_yaml_syntax_error(tmp_path: Path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("mqtt:\n  host: 127.0.0.1\n cameras: {}\n")
    result = run_cli("check-config", "--config", str(cfg))
    assert result.returncode == 2
    assert result.stderr.splitlines()[1] == (
        f"  {cfg}:3:2: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping at line 1, column 1)")


def test_a_secret_that_is_not_text_is_masked_too():
    errors = errors_of("mqtt: {host: h}\ncameras: {}\napi: {jwt_secret: 8675309}\n")
    assert errors == ["api.jwt_secret: expected a string of at least 32 characters, or null, got '***'"]


def _place(pattern: str, key: str, value: object) -> tuple[dict, str]:
    """A config with ``value`` at ``key`` of the section at ``pattern`` (``<id>`` a camera or
    timelapse id, ``<label>`` a label, ``name[]`` the first list entry), and its key path."""
    data: dict = {"mqtt": {"host": "h"}, "cameras": {"cam": {"url": "lavfi:testsrc"}}}
    node, path = data, []
    for part in [p for p in pattern.split(".") if p]:
        if part.startswith("<"):
            part = "person" if part == "<label>" else "cam"
        if part.endswith("[]"):
            node[part[:-2]] = [{}]
            node, path = node[part[:-2]][0], [*path, part[:-2], "0"]
            continue
        node = node.setdefault(part, {"camera": "cam"} if path == ["timelapses"] else {})
        path.append(part)
    node[key] = value
    return data, ".".join([*path, key])


def test_every_refused_value_is_shown_and_no_bare_voluptuous_message_remains():
    """For every option of every section: a value its validator refuses is reported at its key
    path with what is allowed and the value found (a secret masked)."""
    from bridge.config import SECTIONS

    bad = "zz-not-valid"
    checked = 0
    for pattern, section in SECTIONS.items():
        for opt in section.options:
            try:
                opt.validator(bad)
                continue  # free text: nothing to refuse
            except Exception:  # noqa: BLE001 - any refusal
                pass
            data, path = _place(pattern, opt.key, bad)
            lines = [e for e in errors_of(json.dumps(data)) if e.startswith(f"{path}: ")]
            assert len(lines) == 1, (path, lines)
            line = lines[0]
            assert not re.search(r"expected (int|float|bool|boolean)\b|value must be|not a valid value", line), line
            if opt.secret and opt.key != "url":  # a URL is shown with its password masked
                assert line.endswith("got '***'"), line
            else:  # "got 'value'", or the message quotes it
                assert f"'{bad}'" in line, line
            checked += 1
    assert checked > 50, checked


def test_the_start_of_a_key_suggests_the_whole_key():
    errors = errors_of("mqtt: {host: h}\ncameras: {}\ncluster: {renew: 3}\n")  # too short for difflib alone
    assert errors == ["cluster.renew: unknown key (did you mean renew_interval?); "
                      "allowed: dsn, name, lease_ttl, renew_interval"]


def test_a_mistyped_url_is_not_echoed_with_its_password():
    errors = errors_of(GOOD.replace("rtsp://user:pw@192.0.2.20:554/stream1", "rtsp:/user:hunter2@192.0.2.20/s"))
    assert len(errors) == 1 and errors[0].startswith("cameras.front_door.url: no such file (expected rtsp://")
    assert "hunter2" not in errors[0]


def test_a_control_character_in_the_file_is_one_error_line_and_odd_keys_are_quoted():
    assert errors_of("mqtt:\n  host: a\x08b\ncameras: {}\n") == [
        "(yaml): invalid YAML: character #x0008 at offset 15 is not allowed (control characters other than tab "
        "and newline)"]
    errors = errors_of(GOOD + '  "door\\nINFO fake line": {url: rtsp://192.0.2.9/s}\n')
    assert errors and all("\n" not in line for line in errors)
    assert any(line.startswith("cameras.'door\\nINFO fake line'") for line in errors), errors
