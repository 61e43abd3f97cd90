"""translations/en.json is strings.json with Home Assistant's common strings filled in, and every
service in services.yaml has its translated name and fields."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

COMPONENT = Path(__file__).resolve().parents[3] / "custom_components" / "camera_bridge"


def _pairs(strings: object, english: object, path: str = "") -> list[tuple[str, object, object]]:
    if isinstance(strings, dict):
        assert isinstance(english, dict) and set(english) == set(strings), f"keys differ at {path or 'top'}"
        return [pair for key in strings for pair in _pairs(strings[key], english[key], f"{path}.{key}")]
    return [(path, strings, english)]


def test_english_matches_strings() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text())
    english = json.loads((COMPONENT / "translations" / "en.json").read_text())
    for path, source, text in _pairs(strings, english):
        if isinstance(source, str) and re.fullmatch(r"\[%key:[a-z_:]+%\]", source):
            assert isinstance(text, str) and "[%key" not in text, path
        else:
            assert source == text, f"{path}: {text!r} is not {source!r}"


def test_services_are_described() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    strings = json.loads((COMPONENT / "strings.json").read_text())["services"]
    assert set(services) == set(strings)
    for name, spec in services.items():
        assert set(spec["fields"]) == set(strings[name]["fields"]), name


def test_icons_name_real_translation_keys() -> None:
    icons = json.loads((COMPONENT / "icons.json").read_text())["entity"]
    entities = json.loads((COMPONENT / "strings.json").read_text())["entity"]
    for platform, keys in icons.items():
        missing = set(keys) - set(entities.get(platform, {}))
        assert not missing, f"icons.json names unknown {platform} translation keys {missing}"
