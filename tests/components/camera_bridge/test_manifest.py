"""The files HACS and Home Assistant read: hacs.json, manifest.json (keys both require, valid
values, the minimum HA version the tests run on), and quality_scale.yaml (every rule of the
quality scale up to Platinum, done, or exempt or todo with a reason)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from awesomeversion import AwesomeVersion

import homeassistant
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from custom_components.camera_bridge.const import DOMAIN

REPO = Path(__file__).resolve().parents[3]
COMPONENT = REPO / "custom_components" / DOMAIN
#: the oldest Home Assistant the tests run on (scripts/test.sh: .venv-ha)
OLDEST_TESTED = "2024.3.3"

#: the rules of HA's integration quality scale, Bronze to Platinum (HA 2026.10's list); a newer
#: HA's own integrations may name more, which the test adds
RULES = {
    "bronze": ["action-setup", "appropriate-polling", "brands", "common-modules", "config-flow-test-coverage",
               "config-flow", "dependency-transparency", "docs-actions", "docs-conditions",
               "docs-high-level-description", "docs-installation-instructions", "docs-removal-instructions",
               "docs-triggers", "entity-event-setup", "entity-unique-id", "has-entity-name", "runtime-data",
               "test-before-configure", "test-before-setup", "unique-config-entry"],
    "silver": ["action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
               "docs-installation-parameters", "entity-unavailable", "integration-owner", "log-when-unavailable",
               "parallel-updates", "reauthentication-flow", "test-coverage"],
    "gold": ["devices", "diagnostics", "discovery-update-info", "discovery", "docs-data-update", "docs-examples",
             "docs-known-limitations", "docs-supported-devices", "docs-supported-functions", "docs-troubleshooting",
             "docs-use-cases", "dynamic-devices", "entity-category", "entity-device-class",
             "entity-disabled-by-default", "entity-translations", "exception-translations", "icon-translations",
             "reconfiguration-flow", "repair-issues", "stale-devices"],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}
#: hacs.json keys HACS knows (https://hacs.xyz/docs/publish/start/#hacsjson)
HACS_KEYS = {"name", "content_in_root", "zip_release", "filename", "hide_default_branch", "country",
             "homeassistant", "persistent_directory", "render_readme", "hacs"}
#: manifest keys HACS and Home Assistant require of a custom integration
MANIFEST_REQUIRED = {"domain", "name", "version", "documentation", "issue_tracker", "codeowners", "iot_class",
                     "integration_type", "dependencies", "requirements"}
IOT_CLASSES = {"assumed_state", "cloud_polling", "cloud_push", "local_polling", "local_push", "calculated"}
INTEGRATION_TYPES = {"device", "entity", "hardware", "helper", "hub", "service", "system", "virtual"}


def _core_rules() -> set[str]:
    """Rules named by the running HA's own integrations' quality_scale.yaml (none before 2025)."""
    found: set[str] = set()
    for path in (Path(homeassistant.__file__).parent / "components").glob("*/quality_scale.yaml"):
        found |= set((yaml.safe_load(path.read_text()) or {}).get("rules") or {})
    return found


def test_quality_scale_names_every_rule_with_its_status() -> None:
    """Every rule is there, ``done`` or ``exempt``/``todo`` with the reason (todo: what is open,
    said rather than claimed done)."""
    rules = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    every = {rule for tier in RULES.values() for rule in tier} | _core_rules()
    assert set(rules) == every, f"missing {every - set(rules)}, unknown {set(rules) - every}"
    for rule, status in rules.items():
        if isinstance(status, dict):
            assert status.get("status") in ("exempt", "todo") and str(status.get("comment", "")).strip(), rule
        else:
            assert status == "done", f"{rule}: {status}"


def test_hacs_json() -> None:
    if not (REPO / "hacs.json").exists():  # ../shared/ha_current/run.sh copies the component and tests only
        pytest.skip("hacs.json is not in this copy of the checkout (checked on HA 2024.3.3)")
    hacs = json.loads((REPO / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert hacs["name"] and hacs["content_in_root"] is False
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum <= AwesomeVersion(OLDEST_TESTED) <= AwesomeVersion(HA_VERSION)
    assert (minimum.major, minimum.minor) == (2024, 3), "the minimum is the oldest HA the tests run on"


async def test_manifest(hass: HomeAssistant) -> None:
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    assert MANIFEST_REQUIRED <= set(manifest), MANIFEST_REQUIRED - set(manifest)
    assert manifest["domain"] == DOMAIN == COMPONENT.name
    assert list(manifest)[:2] == ["domain", "name"] and list(manifest)[2:] == sorted(list(manifest)[2:]), \
        "hassfest's order: domain, name, then the rest sorted"
    assert manifest["iot_class"] in IOT_CLASSES and manifest["integration_type"] in INTEGRATION_TYPES
    assert AwesomeVersion(manifest["version"]).valid and manifest["version"].count(".") == 2
    for key in ("documentation", "issue_tracker"):
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+(/\S*)?", manifest[key]), manifest[key]
    assert all(owner.startswith("@") for owner in manifest["codeowners"]) and manifest["codeowners"]
    assert "http" in manifest["dependencies"] and manifest["requirements"] == []
    integration = await async_get_integration(hass, DOMAIN)  # Home Assistant's own loader reads it
    assert str(integration.version) == manifest["version"] and integration.config_flow
    assert "http" in integration.dependencies and "mqtt" in integration.after_dependencies
