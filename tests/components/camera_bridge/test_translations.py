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


def _code() -> str:
    return "\n".join(p.read_text() for p in sorted(COMPONENT.glob("*.py")))


def _keys_used(code: str) -> set[str]:
    """Every string the code gives as a translation key, abort reason or form error."""
    constants = dict(re.findall(r'^([A-Z_]+): Final = "([a-z_]+)"', (COMPONENT / "const.py").read_text(), re.MULTILINE))
    found = set(re.findall(r'(?:translation_key|reason)=\s*"([a-z_]+)"', code))
    found |= set(re.findall(r'_translation_key = "([a-z_]+)"', code))
    found |= set(re.findall(r'_unresolvable\("([a-z_]+)"', code))
    found |= set(re.findall(r'update_failed\(.*?, DOMAIN, "([a-z_]+)"', code))
    found |= set(re.findall(r'"base"\]? ?[:=] "([a-z_]+)"', code))
    found |= {constants[name] for name in re.findall(r"translation_key=([A-Z_]+)", code) if name in constants}
    return found


def test_every_string_is_used_and_every_used_key_has_a_string() -> None:
    strings = json.loads((COMPONENT / "strings.json").read_text())
    used = _keys_used(_code())
    defined = (set(strings["exceptions"]) | set(strings["config"]["error"]) | set(strings["config"]["abort"])
               | {key for platform in strings["entity"].values() for key in platform} | set(strings["issues"])
               | set(strings["selector"]))
    fix = strings["issues"]["mqtt_discovery_duplicates"]["fix_flow"]
    defined |= set(fix["error"]) | set(fix["abort"])
    # already_configured comes from _abort_if_unique_id_configured
    unused = defined - used - {"already_configured"}
    assert not unused, f"strings.json has strings nothing uses: {sorted(unused)}"
    missing = {key for key in used if key not in defined}
    assert not missing, f"the code uses keys strings.json lacks: {sorted(missing)}"
