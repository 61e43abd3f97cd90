"""The reference docs stay true to the code: docs/configuration.md lists every option of
bridge/config/'s ``*_OPTIONS`` tables with its default, bounds and allowed values, and its
examples are what the CLI really does; docs/mqtt.md lists every topic the bridge uses, every
status and bridge-state field, every Home Assistant discovery entity, and its example payloads
have the shape the code publishes."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
import yaml

from bridge import cli, config
from bridge.camera import Camera
from bridge.cameras import CameraSet
from bridge.config import CameraConfig, Option, parse
from bridge.config import timelapse as timelapse_config
from bridge.config.detect import DetectConfig, ObjectFilter
from bridge.config.timelapse import Spec
from bridge.core.events import EventBus
from bridge.mqtt import discovery, topics
from bridge.mqtt.publisher import MqttPublisher
from bridge.ports import LiveView, Parts
from bridge.status import CameraState, CameraStatus
from bridge.timelapse.state import Runtime, State

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DOC = ROOT / "docs" / "configuration.md"
MQTT_DOC = ROOT / "docs" / "mqtt.md"

#: where each option table lives in the configuration, as written in the docs' key paths:
#: ``<id>`` is any key of a mapping (a camera id), ``name[]`` any entry of the list ``name``
SECTIONS: dict[str, str] = {
    "TOP_OPTIONS": "",
    "MQTT_OPTIONS": "mqtt.",
    "CAMERA_OPTIONS": "cameras.<id>.",
    "SNAPSHOT_OPTIONS": "cameras.<id>.snapshot.",
    "EVENT_SNAPSHOT_OPTIONS": "cameras.<id>.event_snapshot.",
    "API_OPTIONS": "api.",
    "API_KEY_OPTIONS": "api.keys[].",
    "RATE_LIMIT_OPTIONS": "api.rate_limit.",
    "TLS_OPTIONS": "api.tls.",
    "DETECT_OPTIONS": "detect.",
    "DETECT_OBJECT_OPTIONS": "detect.objects.<label>.",
    "DETECT_MOTION_OPTIONS": "detect.motion.",
    "DETECT_CAPTURE_OPTIONS": "detect.capture.",
    "DETECT_CLIPS_OPTIONS": "detect.clips.",
    "MEDIAMTX_OPTIONS": "mediamtx.",
    "RECORD_OPTIONS": "mediamtx.record.",
    "USB_OPTIONS": "usb.",
    "CLUSTER_OPTIONS": "cluster.",
    "AUDIT_OPTIONS": "audit.",
    # bridge/config/timelapse.py
    "SETTINGS_OPTIONS": "timelapse.",
    "GLOBAL_OPTIONS": "timelapse.",
    "TIMELAPSE_OPTIONS": "timelapses.<id>.",
}
#: modules holding option tables
OPTION_MODULES = (config, timelapse_config)

# ---------------------------------------------------------------------------------------------
# markdown helpers


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table of a markdown text as (header cells, body rows of cells)."""
    found: list[tuple[list[str], list[list[str]]]] = []
    header: list[str] | None = None
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        line = line.strip()
        if not line.startswith("|"):
            if header is not None:
                found.append((header, rows))
            header, rows = None, []
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if header is None:
            header = cells
        elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
            rows.append(cells)
    return found


def rows_with(text: str, *columns: str) -> list[dict[str, str]]:
    """Body rows (as column -> cell) of every table whose header has all of ``columns``."""
    out = []
    for header, rows in tables(text):
        if all(c in header for c in columns):
            out += [dict(zip(header, row)) for row in rows]
    return out


def code_blocks(text: str, lang: str | None = None) -> list[str]:
    """Fenced code blocks (optionally only those of language ``lang``)."""
    blocks = re.findall(r"^```([\w-]*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [body for tag, body in blocks if lang is None or tag == lang]


def section(text: str, heading: str) -> str:
    """The text from the heading line ``heading`` to the next heading of the same or a higher
    level."""
    level = len(heading.split(" ", 1)[0])
    start = text.index(f"\n{heading}\n")
    nxt = re.search(rf"^#{{1,{level}}} ", text[start + len(heading) + 2:], flags=re.MULTILINE)
    end = start + len(heading) + 2 + nxt.start() if nxt else len(text)
    return text[start:end]


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# ---------------------------------------------------------------------------------------------
# docs/configuration.md


def option_tables() -> list[tuple[str, tuple[Option, ...]]]:
    """(key path prefix, options) for every ``*_OPTIONS`` table of bridge/config/."""
    tables = {n: v for module in OPTION_MODULES for n, v in vars(module).items()
              if n.endswith("_OPTIONS") and isinstance(v, tuple)}
    unknown = [n for n in tables if n not in SECTIONS]
    assert not unknown, (f"bridge/config/ has new option table(s) {unknown}: document them in "
                         "docs/configuration.md and add their key path prefix to SECTIONS here")
    return [(SECTIONS[n], tables[n]) for n in sorted(tables)]


def all_options() -> dict[str, Option]:
    return {prefix + opt.key: opt for prefix, opts in option_tables() for opt in opts}


def documented_options() -> dict[str, dict[str, str]]:
    rows = rows_with(CONFIG_DOC.read_text(encoding="utf-8"), "Key", "Default")
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        keys = backticked(row["Key"])
        assert len(keys) == 1, f"option table row without one `key.path`: {row}"
        assert keys[0] not in out, f"{keys[0]} is documented twice in docs/configuration.md"
        out[keys[0]] = row
    return out


def default_forms(opt: Option) -> set[str]:
    """How a default may be written in the Default column."""
    value = opt.default
    if opt.required:
        return {"required"}
    if value is None:
        return {"`null`"}
    if isinstance(value, bool):
        return {f"`{str(value).lower()}`"}
    if isinstance(value, (int, float)):
        return {f"`{value!r}`", f"`{value:g}`"}
    if isinstance(value, (list, tuple, dict)):  # YAML flow style: `[]`, `{person: {}}`
        plain = json.loads(json.dumps(value))
        return {f"`{yaml.safe_dump(plain, default_flow_style=True).strip()}`"}
    return {f"`{value}`"}


def constraints(validator: Any) -> list[Any]:
    """The ``vol.Range``, ``vol.Length`` and ``vol.In`` validators inside ``validator`` (through
    ``vol.All``, ``vol.Any`` and closures such as ``_optional``)."""
    found: list[Any] = []
    stack, seen = [validator], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, (vol.Range, vol.Length, vol.In)):
            found.append(v)
        elif isinstance(v, (vol.All, vol.Any)):
            stack.extend(v.validators)
        elif inspect.isfunction(v) and v.__closure__:
            for cell in v.__closure__:
                try:
                    stack.append(cell.cell_contents)
                except ValueError:  # empty cell
                    pass
    return found


def numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<!\w)-?\d+(?:\.\d+)?", text.replace("\u2212", "-"))}


def test_every_option_is_documented_with_its_default():
    documented = documented_options()
    missing = [path for path in all_options() if path not in documented]
    assert not missing, f"options missing from docs/configuration.md: {missing}"
    wrong = {}
    for path, opt in all_options().items():
        cell = documented[path]["Default"]
        if cell not in default_forms(opt):
            wrong[path] = (cell, sorted(default_forms(opt)))
    assert not wrong, f"defaults in docs/configuration.md differ from the code (doc, code): {wrong}"


def test_no_documented_option_is_stale():
    stale = [path for path in documented_options() if path not in all_options()]
    assert not stale, f"docs/configuration.md documents options the code does not have: {stale}"


def test_bounds_and_allowed_values_are_documented():
    documented = documented_options()
    problems = []
    for path, opt in all_options().items():
        row = documented.get(path)
        if row is None:  # reported by test_every_option_is_documented_with_its_default
            continue
        allowed = row.get("Allowed values", "") + " " + row.get("Description", "")
        for check in constraints(opt.validator):
            if isinstance(check, vol.In):
                absent = [v for v in check.container if f"`{v}`" not in allowed]
                if absent:
                    problems.append(f"{path}: allowed value(s) {absent} not listed")
            elif isinstance(check, vol.Length) and (check.min, check.max) == (1, None):
                if "non-empty" not in row.get("Allowed values", ""):
                    problems.append(f"{path}: length at least 1, but {row.get('Allowed values')!r} "
                                    "does not say non-empty")
            else:
                bounds = [b for b in (check.min, check.max) if b is not None]
                if not all(float(b) in numbers(row.get("Allowed values", "")) for b in bounds):
                    problems.append(f"{path}: bounds {bounds} not in {row.get('Allowed values')!r}")
        if opt.secret and "secret" not in " ".join(row.values()).lower():
            problems.append(f"{path}: is a secret but its row does not say so")
    assert not problems, "\n".join(problems)


def test_section_prefixes_are_real_key_paths():
    """Each SECTIONS prefix is where its table's options really are: an unknown key put there
    is reported at that path, the table's own keys are not (``<id>`` stands for a camera id,
    ``name[]`` for the first entry of the list ``name``, ``name.0`` in error messages)."""
    for table, prefix in SECTIONS.items():
        data: dict[str, Any] = {"mqtt": {"host": "127.0.0.1"}, "cameras": {}}
        node, path = data, ""
        for part in [p for p in prefix.split(".") if p]:
            if part == "<id>":
                part = "cam"
                data["cameras"]["cam"] = {"url": "lavfi:testsrc"}
                node[part] = {"camera": "cam"} if path == "timelapses." else {"url": "lavfi:testsrc"}
            if part == "<label>":
                part = "person"
            if part.endswith("[]"):
                part = part[:-2]
                node[part] = [{}]
                node, path = node[part][0], f"{path}{part}.0."
                continue
            node = node.setdefault(part, {})
            path += f"{part}."
        table_options = next(getattr(m, table) for m in OPTION_MODULES if hasattr(m, table))
        for opt in table_options:
            node[opt.key] = "x" if opt.required else opt.default
        node["no_such_option"] = 1
        with pytest.raises(config.ConfigError) as err:
            parse(json.dumps(data), {})
        unknown = [e for e in err.value.errors if ": unknown key" in e]
        assert [e.split(":")[0] for e in unknown] == [f"{path}no_such_option"], (table, err.value.errors)
        allowed = unknown[0].split("; allowed: ")[1].split(", ")
        assert {o.key for o in table_options} <= set(allowed), f"{table}: {unknown[0]}"


#: how configuration.md counts its sections
COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12}


def test_the_section_list_is_the_schemas():
    """"N sections: the top-level options, `mqtt:`, ..." under File shape names every section of
    the schema, in its order, and counts them right (the top-level options are one)."""
    text = section(CONFIG_DOC.read_text(encoding="utf-8"), "## File shape")
    found = re.search(r"^(\w+) sections: (.*?)\. Unknown keys", text, flags=re.MULTILINE | re.DOTALL)
    assert found, "the 'N sections: ...' sentence is gone from File shape"
    listed = re.findall(r"`(\w+):`", found.group(2))
    top_options = {o.key for o in config.TOP_OPTIONS}
    in_schema = [str(key) for key in config.SCHEMA.schema if str(key) not in top_options]
    assert sorted(in_schema) == sorted(config.SECTIONS[""].subsections)
    assert listed == list(config.SECTIONS[""].subsections)
    assert COUNTS[found.group(1).lower()] == 1 + len(listed)


def test_every_section_has_its_heading():
    """Each section of the schema (bridge.config.SECTIONS) has its own heading with its key path
    in Options, and each such heading is a section; a camera's ``detect`` and ``timelapse`` take
    the keys of the top-level sections of these names and are documented there."""
    text = CONFIG_DOC.read_text(encoding="utf-8")
    headings = {h for h in re.findall(r"^#{3,4} `([^`]+)`$", text, flags=re.MULTILINE)
                if not h.startswith("camera-bridge")}
    paths = {p for p in config.SECTIONS if p
             and not p.startswith(("cameras.<id>.detect", "cameras.<id>.timelapse"))}
    assert headings == paths
    assert "### Top level" in text


def test_example_file_is_valid():
    example = code_blocks(section(CONFIG_DOC.read_text(encoding="utf-8"), "## File shape"), "yaml")[0]
    env = {name: "rtsp://viewer:pw@192.0.2.20/stream1" if name.endswith("_URL") else "x"
           for name in re.findall(r"!env (\w+)", example)}
    cfg = parse(example, env)
    assert cfg.cameras, "the example configuration has no camera"


def test_error_example_is_what_the_cli_prints(tmp_path, monkeypatch, capsys):
    text = section(CONFIG_DOC.read_text(encoding="utf-8"), "## Errors")
    bad = code_blocks(text, "yaml")[0]
    console = code_blocks(text, "console")[0].splitlines()
    for name in re.findall(r"!env (\w+)", bad):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    command = console[0].removeprefix("$ camera-bridge ").split()
    (tmp_path / command[-1]).write_text(bad, encoding="utf-8")
    status = cli.main(command)
    printed = capsys.readouterr().err.splitlines()
    expected = console[1:console.index("$ echo $?")]
    assert printed == expected
    assert status == int(console[console.index("$ echo $?") + 1]) == cli.EXIT_CONFIG


def test_check_config_example_is_what_the_cli_prints(tmp_path, monkeypatch, capsys):
    text = section(CONFIG_DOC.read_text(encoding="utf-8"), "## `camera-bridge check-config`")
    given, printed_doc = code_blocks(text, "yaml")[:2]
    command = code_blocks(text, "sh")[0].split()
    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    while "=" in command[0]:
        name, value = command.pop(0).split("=", 1)
        monkeypatch.setenv(name, value)
    assert command[0] == "camera-bridge"
    monkeypatch.chdir(tmp_path)
    (tmp_path / command[-1]).write_text(given, encoding="utf-8")
    assert cli.main(command[1:]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out == printed_doc
    assert "***" in out and "s3cret-cam" not in out and "hunter2pw" not in out
    given_env = dict(word.split("=", 1) for word in code_blocks(text, "sh")[0].split() if "=" in word)
    shown = [n for n, v in given_env.items() if ("PASSWORD" in n or "SECRET" in n) and v in out]
    assert not shown, f"secrets from {shown} are printed unmasked"


# ---------------------------------------------------------------------------------------------
# docs/mqtt.md

# Distinct sample names, so that generated strings can be turned back into placeholders.
BASE, NODE, PREFIX, CAMERA, TIMELAPSE = "xbase/sub", "xbase_sub", "xprefix", "xcam", "xtl"
LABEL = "xlabel"  #: a tracked object label (``{label}``: person, car, ...)
HA_STATUS = "xha/xbirth"
MEMBER = "xmember"  #: a cluster member name (``{member}``, cluster mode)
#: Topics fields that are prefixes or parts of other topics, not topics of their own
PREFIX_FIELDS = {"base", "discovery_prefix", "member"}


def template(text: str) -> str:
    """A generated topic or id with the sample names replaced by the docs' placeholders."""
    return (text.replace(HA_STATUS, "{ha_status}").replace(BASE, "{base}")
            .replace(NODE, "{node_id}").replace(PREFIX, "{prefix}").replace(CAMERA, "{camera}")
            .replace(TIMELAPSE, "{timelapse}").replace(LABEL, "{label}").replace(MEMBER, "{member}"))


def sample_topics() -> topics.Topics:
    t = topics.Topics(BASE, PREFIX, HA_STATUS)
    assert t.node_id == NODE, "node id rule changed: update docs/mqtt.md and this test"
    return t


def sample_camera(cam_id: str = CAMERA) -> CameraConfig:
    """A camera with detection on, tracking one label (its entities and topics are documented
    with ``{label}``)."""
    return CameraConfig(id=cam_id, url="rtsp://192.0.2.20/stream1",
                        detect=DetectConfig(enabled=True, objects={LABEL: ObjectFilter()}))


def published_leaves() -> set[str]:
    """Leaves ``x`` of every ``topics.camera(cam, "x")`` call in the bridge's code."""
    leaves = set(topics.CAMERA_RETAINED)
    for path in (ROOT / "bridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "camera" and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                leaves.add(node.args[1].value)
    return leaves


def discovery_configs(cam_id: str = CAMERA, t: topics.Topics | None = None) -> list[tuple[str, dict]]:
    t = t or sample_topics()
    return (discovery.bridge_configs(t) + discovery.camera_configs(t, sample_camera(cam_id))
            + discovery.timelapse_configs(t, TIMELAPSE, "Garden daily", cam_id))


def payload_topics(payload: Any) -> set[str]:
    """Every topic named in a discovery payload."""
    found = set()
    if isinstance(payload, dict):
        for key, value in payload.items():
            if (key == "topic" or key.endswith("_topic")) and isinstance(value, str):
                found.add(value)
            else:
                found |= payload_topics(value)
    elif isinstance(payload, list):
        for item in payload:
            found |= payload_topics(item)
    return found


def code_topics() -> dict[str, str]:
    """Every topic (pattern) the bridge publishes or subscribes to, as placeholder text ->
    where it comes from."""
    t = sample_topics()
    out: dict[str, str] = {}
    for name, member in inspect.getmembers(topics.Topics):
        if isinstance(member, property) and name not in ("node_id", "bridge_key"):
            out[template(getattr(t, name))] = f"Topics.{name}"
    clustered = topics.Topics(BASE, PREFIX, HA_STATUS, MEMBER)
    for name in ("bridge_availability", "bridge_state"):  # a clustered bridge's own topics
        out[template(getattr(clustered, name))] = f"Topics.{name} (cluster mode)"
    for field in dataclasses.fields(topics.Topics):  # topics given to Topics (ha_status)
        if field.name not in PREFIX_FIELDS:
            out[template(getattr(t, field.name))] = f"Topics.{field.name}"
    methods = {n for n, m in inspect.getmembers(topics.Topics, inspect.isfunction)
               if not n.startswith("_")}
    new = methods - {"camera", "discovery", "command_camera", "timelapse", "command_timelapse"}
    assert not new, f"new Topics method(s) {new}: document their topics in docs/mqtt.md and here"
    for leaf in published_leaves():
        out[template(t.camera(CAMERA, leaf))] = f"Topics.camera(..., {leaf!r})"
    out[template(t.discovery("{component}", "{object_id}"))] = "Topics.discovery"
    for leaf in (*topics.TIMELAPSE_RETAINED, "set"):
        out[template(t.timelapse(TIMELAPSE, leaf))] = f"Topics.timelapse(..., {leaf!r})"
    for topic, payload in discovery_configs():
        for named in payload_topics(payload):
            out.setdefault(template(named), f"discovery payload of {template(topic)}")
    return out


def test_every_topic_is_documented():
    doc = MQTT_DOC.read_text(encoding="utf-8")
    missing = {topic: src for topic, src in code_topics().items() if f"`{topic}`" not in doc}
    assert not missing, f"topics missing from docs/mqtt.md (as `topic`): {missing}"


def test_every_topic_has_a_row_with_retain_and_qos():
    rows = rows_with(MQTT_DOC.read_text(encoding="utf-8"), "Topic", "Retained", "QoS")
    in_table = {backticked(row["Topic"])[0] for row in rows}
    missing = [topic for topic in code_topics() if "+" not in topic and topic not in in_table]
    assert not missing, f"topics without a row in the topic table of docs/mqtt.md: {missing}"
    stale = [topic for topic in in_table if topic not in code_topics()]
    assert not stale, f"docs/mqtt.md lists topics the code does not use: {stale}"


def status_keys() -> list[str]:
    return list(CameraStatus().as_payload())


def bridge_state_keys() -> list[str]:
    cfg = parse("mqtt: {host: 127.0.0.1}\ncameras: {front_door: {url: 'lavfi:testsrc'}}\n", {})
    camera_set = CameraSet(EventBus(), cfg.state_dir / "captures")
    camera_set.cameras.update({cam_id: Camera(cam) for cam_id, cam in cfg.cameras.items()})
    view = LiveView(Parts(cfg, camera_set.bus, camera_set))
    return list(MqttPublisher(cfg.mqtt, view).bridge_state())


def fields_of(heading: str) -> set[str]:
    text = section(MQTT_DOC.read_text(encoding="utf-8"), heading)
    return {name for row in rows_with(text, "Field") for name in backticked(row["Field"])}


def test_every_status_field_and_state_is_documented():
    heading = "### `{base}/{camera}/status`"
    assert set(status_keys()) <= fields_of(heading), (
        f"status fields missing from docs/mqtt.md: {set(status_keys()) - fields_of(heading)}")
    assert fields_of(heading) <= set(status_keys()), (
        f"docs/mqtt.md documents status fields the code does not publish: "
        f"{fields_of(heading) - set(status_keys())}")
    text = section(MQTT_DOC.read_text(encoding="utf-8"), heading)
    state_row = next(row for row in rows_with(text, "Field") if backticked(row["Field"]) == ["state"])
    absent = [str(s) for s in CameraState if f"`{s}`" not in " ".join(state_row.values())]
    assert not absent, f"camera states missing from the state row of docs/mqtt.md: {absent}"


def test_every_bridge_state_field_is_documented():
    documented = fields_of("### `{base}/bridge/state`")
    assert documented == set(bridge_state_keys())


def test_every_discovery_entity_is_listed():
    rows = rows_with(MQTT_DOC.read_text(encoding="utf-8"), "Component", "object_id", "unique_id")
    listed = {(row["Component"], *backticked(row["object_id"])[:1], *backticked(row["unique_id"])[:1])
              for row in rows}
    expected = set()
    for topic, payload in discovery_configs():
        component = template(topic).split("/")[1]
        expected.add((component, template(payload["object_id"]), template(payload["unique_id"])))
    missing = expected - listed
    assert not missing, f"discovery entities missing from docs/mqtt.md (component, object_id, unique_id): {missing}"
    stale = listed - expected
    assert not stale, f"docs/mqtt.md lists discovery entities the code does not publish: {stale}"


def test_discovery_entities_of_a_real_camera_match_the_placeholders():
    """The placeholder table read with a real camera gives the real topics and ids."""
    real = topics.Topics("camera_bridge", "homeassistant")

    def fill(cell: str) -> str:
        return (backticked(cell)[0].replace("{node_id}", real.node_id).replace("{camera}", "front_door")
                .replace("{timelapse}", TIMELAPSE).replace("{label}", LABEL))

    rows = rows_with(MQTT_DOC.read_text(encoding="utf-8"), "Component", "object_id", "unique_id")
    listed = {(row["Component"], fill(row["object_id"]), fill(row["unique_id"])) for row in rows}
    built = set()
    for topic, payload in discovery_configs("front_door", real):
        component, node, object_id = topic.split("/")[1:4]
        assert node == real.node_id
        assert payload["object_id"] == object_id
        assert payload["default_entity_id"] == f"{component}.{object_id}"
        built.add((component, object_id, payload["unique_id"]))
    assert len({unique_id for _, _, unique_id in built}) == len(built), "unique_ids collide"
    assert built == listed


def _without_versions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k == "sw_version" else _without_versions(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_versions(v) for v in value]
    return value


def test_example_payloads_have_the_published_shape():
    """JSON examples (fenced ``json`` blocks and ``topic payload`` lines) match the code: status
    and bridge-state examples have exactly the published keys, discovery examples equal what
    discovery.py builds for that camera (versions aside)."""
    doc = MQTT_DOC.read_text(encoding="utf-8")
    examples: list[tuple[str | None, dict]] = []
    for block in code_blocks(doc):
        if block.lstrip().startswith("{"):
            examples.append((None, json.loads(block)))
            continue
        for line in block.splitlines():
            match = re.fullmatch(r"(\S+) (\{.*\})", line)
            if match:
                examples.append((match.group(1), json.loads(match.group(2))))
    assert examples, "no JSON example payload found in docs/mqtt.md"
    real = topics.Topics("camera_bridge", "homeassistant")
    checked = {"status": 0, "bridge": 0, "discovery": 0, "timelapse": 0}
    timelapse_keys = list(Runtime(Spec(id="x", camera="y"), "yaml", State.RUNNING).status())
    for topic, payload in examples:
        if "/timelapse/" in (topic or "") and topic.endswith("/state"):
            assert list(payload) == timelapse_keys, f"timelapse state example for {topic} is out of date"
            assert payload["state"] in {str(s) for s in State}
            checked["timelapse"] += 1
        elif "unique_id" in payload:
            cam_id = payload["device"]["identifiers"][0].removeprefix(f"{real.node_id}_")
            model = payload["device"]["model"]
            kinds = {v: k for k, v in discovery._MODELS.items()}
            url = {"file": "/tmp/clip.mp4", "rtsp": "rtsp://cam/1", "http": "http://cam/1",
                   "lavfi": "lavfi:testsrc", "usb": "/dev/video0"}.get(kinds.get(model, ""), "")
            cams = [] if cam_id == "bridge" else [CameraConfig(id=cam_id, url=url)]
            built = dict(discovery.bridge_configs(real))
            for cam in cams:
                built.update(discovery.camera_configs(real, cam))
            same = [p for p in built.values() if p["unique_id"] == payload["unique_id"]]
            assert same, f"example discovery payload {payload['unique_id']} is not built by the code"
            assert _without_versions(payload) == _without_versions(same[0])
            checked["discovery"] += 1
        elif "keyframes" in payload or (topic or "").endswith("/status"):
            clustered = [*status_keys(), "owner", "epoch"]  # a clustered bridge's (docs/cluster.md)
            assert list(payload) in (status_keys(), clustered), f"status example for {topic} is out of date"
            assert payload["state"] in {str(s) for s in CameraState}
            checked["status"] += 1
        elif "uptime_s" in payload or (topic or "").endswith("/bridge/state"):
            assert list(payload) == bridge_state_keys(), f"bridge state example for {topic} is out of date"
            checked["bridge"] += 1
    assert all(checked.values()), f"an example kind is missing from docs/mqtt.md: {checked}"


@pytest.mark.parametrize("word", [topics.ONLINE, topics.OFFLINE])
def test_availability_payloads_are_documented(word):
    assert f"`{word}`" in MQTT_DOC.read_text(encoding="utf-8")


def test_ha_automations_in_the_docs_fire_for_every_event():
    """An ``event`` entity's attribute ``event_type`` stays ``new`` from one person to the next:
    Home Assistant's state trigger does not fire when the watched value does not change, so a
    documented automation must trigger on the entity's state (the time of its last event) and
    check ``event_type`` in a condition."""
    blocks = [yaml.safe_load(block) for path in sorted((ROOT / "docs").glob("*.md"))
              for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
              if block.startswith("automation:")]
    # both syntaxes: ``triggers:``/``trigger: state`` (HA 2024.10+) and ``trigger:``/``platform: state``
    triggers = [trigger for block in blocks for auto in block["automation"]
                for trigger in auto.get("triggers", auto.get("trigger", []))
                if trigger.get("trigger", trigger.get("platform")) == "state"
                and str(trigger["entity_id"]).startswith("event.")]
    assert triggers, "no automation on a detection event entity in the docs"
    for trigger in triggers:
        assert "attribute" not in trigger and "to" not in trigger, trigger
