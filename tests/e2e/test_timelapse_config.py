"""Timelapse options: inheritance global -> camera -> timelapse with the source of each value,
errors named by key path, cross-checks, and the examples of docs/timelapse.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bridge.config import ConfigError, masked, parse
from bridge.config.timelapse import DAYS, effective, spec_from_data

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "timelapse.md"


def config(**top) -> str:
    data = {"mqtt": {"host": "127.0.0.1"},
            "cameras": {"garden": {"url": "lavfi:testsrc", "timelapse": {"crf": 30, "fps": 12}}}}
    data.update(top)
    return yaml.safe_dump(data)


def test_settings_inherit_and_name_their_source():
    cfg = parse(config(timelapse={"fps": 20, "width": 1280},
                       timelapses={"daily": {"camera": "garden", "fps": 30, "interval": 10}}), {})
    spec = cfg.timelapses["daily"]
    settings, sources = effective(spec, cfg.cameras["garden"].timelapse, cfg.timelapse)
    assert (settings.fps, sources["fps"]) == (30, "timelapse")  # over camera 12 and global 20
    assert (settings.crf, sources["crf"]) == (30, "camera")
    assert (settings.width, sources["width"]) == (1280, "global")
    assert (settings.jpeg_quality, sources["jpeg_quality"]) == (90, "default")
    assert spec.days == DAYS and spec.autostart


def test_errors_name_the_key_path():
    with pytest.raises(ConfigError) as err:
        parse(config(timelapse={"latitude": 91, "timezone": "Mars/Olympus"},
                     timelapses={"t": {"camera": "garden", "interval": 0, "window_start": "25:00",
                                       "days": ["mon", "funday"], "end_date": "soon", "oops": 1},
                                 "Bad-Id": {"camera": "garden"}}), {})
    errors = err.value.errors
    assert "timelapse.latitude: expected a number from -90 to 90, or null, got 91" in errors
    assert any(e.startswith("timelapse.timezone: unknown time zone 'Mars/Olympus'") for e in errors)
    assert "timelapses.t.interval: expected a number from 1 to 86400, or null, got 0" in errors
    assert "timelapses.t.window_start: expected HH:MM (local time), sunrise or sunset, got '25:00'" in errors
    assert any(e.startswith("timelapses.t.days: unknown day(s) fun") for e in errors)
    assert any(e.startswith("timelapses.t.end_date: expected an ISO date") for e in errors)
    assert any(e.startswith("timelapses.t.oops: unknown key; allowed: camera, name,") for e in errors)
    assert "timelapses.Bad-Id: invalid timelapse id, expected a slug [a-z0-9_]+" in errors
    with pytest.raises(ConfigError) as err:
        parse(config(cameras={"c": {"url": "lavfi:testsrc", "timelapse": {"crf": 99}}}), {})
    assert err.value.errors == ["cameras.c.timelapse.crf: expected an integer from 0 to 51, or null, got 99"]


def test_references_are_checked():
    with pytest.raises(ConfigError) as err:
        parse(config(timelapses={"t": {"camera": "nowhere", "window_end": "sunset"}}), {})
    assert err.value.errors == ["timelapses.t.camera: no camera 'nowhere'",
                                "timelapses.t.window_end: sunrise/sunset needs timelapse.latitude and timelapse.longitude"]


def test_camera_id_timelapse_is_reserved():
    with pytest.raises(ConfigError) as err:
        parse(yaml.safe_dump({"mqtt": {"host": "x"}, "cameras": {"timelapse": {"url": "lavfi:testsrc"}}}), {})
    assert err.value.errors == ["cameras.timelapse: camera id 'timelapse' is reserved for the bridge"]


def test_api_body_validation_uses_the_same_paths():
    with pytest.raises(ConfigError) as err:
        spec_from_data("p", {"camera": "garden", "fps": "many"})
    assert err.value.errors == ["timelapses.p.fps: expected an integer from 1 to 120, or null, got 'many'"]
    spec = spec_from_data("p", {"camera": "garden", "days": "sat,sun", "width": None})
    assert spec.days == ("sat", "sun") and spec.overrides == {}


def test_check_config_shows_timelapses_only_when_configured():
    plain = masked(parse(config(), {}))
    assert "timelapse" not in plain and "timelapses" not in plain
    assert "timelapse" not in plain["cameras"]["garden"] or plain["cameras"]["garden"]["timelapse"]
    shown = masked(parse(config(timelapses={"t": {"camera": "garden", "days": ["sun"]}}), {}))
    assert shown["timelapses"]["t"]["days"] == ["sun"] and shown["timelapse"]["fps"] == 25
    yaml.safe_dump(shown)  # plain data


def test_doc_examples_are_valid():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        data = yaml.safe_load(block)
        data["mqtt"] = {"host": "127.0.0.1"}
        cfg = parse(yaml.safe_dump(data), {})
        assert cfg.timelapses
