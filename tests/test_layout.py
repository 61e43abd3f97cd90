"""Module boundaries of the bridge package: what one module uses of another is public (no
leading underscore), so a helper shared between modules is documented where it lives."""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

from .peers import REPO

PACKAGE = REPO / "bridge"


def _is_module(parts: list[str]) -> bool:
    path = REPO.joinpath(*parts)
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path, source: str | None = None) -> list[str]:
    """``file:line: what`` for each private name of another bridge module that the module at
    ``path`` (its text, or ``source``) imports (``from .x import _name``) or reads through an
    imported module (``x._name``)."""
    rel = path.relative_to(REPO)
    package = list(rel.with_suffix("").parts)[:-1]
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts[:1] != ["bridge"]:
                continue
            for alias in node.names:
                if _is_module([*parts, alias.name]):
                    modules.add(alias.asname or alias.name)
                elif _private(alias.name):
                    found.append(f"{rel}:{node.lineno}: imports {alias.name} from {'.'.join(parts)}")
        elif isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names if a.name.startswith("bridge.") and a.asname)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and _private(node.attr)):
            found.append(f"{rel}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def test_the_scan_sees_a_private_helper_used_across_modules():
    # the check itself must be able to fail: a module of the package reaching into another
    probe = PACKAGE / "api" / "probe.py"
    source = "from . import rpc\nfrom ..mqtt.discovery import _x\n\nrpc._camera\n"
    assert private_uses(probe, source) == ["bridge/api/probe.py:2: imports _x from bridge.mqtt.discovery",
                                           "bridge/api/probe.py:4: uses rpc._camera"]


def test_no_module_uses_private_helpers_of_another():
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in private_uses(path)]
    assert found == [], "\n".join(found)


# -- layers ------------------------------------------------------------------------------------

#: the parts: they produce frames, state and events, and never know who listens
PARTS = ("capture", "camera", "cameras", "snapshot", "detect", "timelapse", "mediamtx", "usb", "store",
         "registry")
#: the adapters: they parse, call the control port or read the view port, render
ADAPTERS = ("mqtt", "api")
#: what an adapter may import besides its own package, ``core`` and ``config``: pure helpers,
#: which hold no part (``bridge`` itself is the version)
HELPERS = ("", "redact", "status", "service", "files", "backoff")


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every ``bridge`` module the file at ``path`` imports (also
    under ``TYPE_CHECKING`` and inside functions), ``from .x import y`` resolved to ``bridge.x.y``
    when ``y`` is a module."""
    rel = path.relative_to(REPO)
    parts = list(rel.with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    if package[-1:] == ["__init__"]:
        package = package[:-1]
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            else:
                base = (node.module or "").split(".")
            if base[:1] != ["bridge"]:
                continue
            for alias in node.names:
                target = [*base, alias.name]
                found.append((node.lineno, ".".join(target if _is_module(target) else base)))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bridge"]
    return found


def layer_of(module: str) -> str:
    """``bridge.api.rpc`` -> ``api``; ``bridge.app`` -> ``app``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(path: Path, source: str | None = None) -> list[str]:
    """``file:line: what`` for each import of the file at ``path`` that crosses the layers:
    ``core`` imports only ``config`` (and the standard library); parts never import the
    adapters nor ``app``; ``mqtt`` and ``api`` never import each other, and besides their own
    package import only ``core``, ``config`` and the :data:`HELPERS` (never a part: they reach
    the parts through the two ports); the helpers import only ``core``, ``config`` and each
    other; only ``cli`` imports ``app``."""
    rel = path.relative_to(REPO)
    here = layer_of(".".join(rel.with_suffix("").parts))
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    found = []
    for line, module in imported_modules(path, source):
        there = layer_of(module)
        if there == here:
            continue
        why = None
        if here == "core" and there not in ("config",):
            why = "core imports only config"
        elif here in PARTS and there in (*ADAPTERS, "app"):
            why = "a part never imports an adapter or app"
        elif here in ADAPTERS and there in ADAPTERS:
            why = "mqtt and api never import each other"
        elif here in ADAPTERS and there not in ("core", "config", *HELPERS):
            why = "an adapter reaches the parts only through the ports"
        elif here in HELPERS and here and there not in ("core", "config", *HELPERS):
            why = "a helper of the adapters holds no part"
        elif there == "app" and here != "cli":
            why = "only cli imports app"
        if why:
            found.append(f"{rel}:{line}: imports {module} ({why})")
    if here == "core":  # and no third-party package either
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top != "bridge" and top not in sys.stdlib_module_names:
                    found.append(f"{rel}:{node.lineno}: imports {name} (core imports only config)")
    return found


def test_the_layer_scan_sees_each_kind_of_crossing():
    cases = {
        PACKAGE / "core" / "probe.py": "from ..api import rpc\nimport aiohttp\nfrom ..config import Config\n",
        PACKAGE / "registry.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .app import Bridge\n",
        PACKAGE / "usb" / "probe.py": "from ..mqtt.client import MqttLink\n",
        PACKAGE / "api" / "probe.py": "def f():\n    from ..mqtt import topics\n",
        PACKAGE / "mqtt" / "probe.py": "from ..api.errors import ApiError\n",
        PACKAGE / "api" / "probe2.py": (
            "from .. import __version__\nfrom ..core.view import BridgeView\nfrom ..status import iso_utc\n"
            "from ..detect.detector import load\nif True:\n    from ..cameras import CameraSet\n"
        ),
        PACKAGE / "mqtt" / "probe2.py": "from ..camera import backoff_delay\nfrom .topics import Topics\n",
        PACKAGE / "redact.py": "from .store import Store\nfrom .core.errors import NotFound\n",
    }
    found = [line for path, source in cases.items() for line in layer_violations(path, source)]
    assert found == [
        "bridge/core/probe.py:1: imports bridge.api.rpc (core imports only config)",
        "bridge/core/probe.py:2: imports aiohttp (core imports only config)",
        "bridge/registry.py:3: imports bridge.app (a part never imports an adapter or app)",
        "bridge/usb/probe.py:1: imports bridge.mqtt.client (a part never imports an adapter or app)",
        "bridge/api/probe.py:2: imports bridge.mqtt.topics (mqtt and api never import each other)",
        "bridge/mqtt/probe.py:1: imports bridge.api.errors (mqtt and api never import each other)",
        "bridge/api/probe2.py:4: imports bridge.detect.detector (an adapter reaches the parts only through the ports)",
        "bridge/api/probe2.py:6: imports bridge.cameras (an adapter reaches the parts only through the ports)",
        "bridge/mqtt/probe2.py:1: imports bridge.camera (an adapter reaches the parts only through the ports)",
        "bridge/redact.py:1: imports bridge.store (a helper of the adapters holds no part)",
    ]


def test_the_layers_hold():
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in layer_violations(path)]
    assert found == [], "\n".join(found)


def bridge_names(path: Path, source: str | None = None) -> list[str]:
    """``file:line`` of every use of the name ``Bridge`` in code, also as a string annotation
    (``"Bridge"``), not in prose (docstrings, comments)."""
    rel = path.relative_to(REPO)
    text = source if source is not None else path.read_text(encoding="utf-8")
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [
        f"{rel}:{tok.start[0]}"
        for tok in tokens
        if (tok.type == tokenize.NAME and tok.string == "Bridge")
        or (tok.type == tokenize.STRING and tok.string.strip("\"'") in ("Bridge", "app.Bridge", "bridge.app.Bridge"))
    ]


def test_no_bridge_type_outside_the_composition_root():
    # the scan must see a use in an annotation, and not a word of a docstring
    probe = PACKAGE / "api" / "probe.py"
    source = '"""The Bridge."""\ndef f(bridge: "Bridge") -> None:\n    pass  # a Bridge\n\nx: Bridge\n'
    assert bridge_names(probe, source) == ["bridge/api/probe.py:2", "bridge/api/probe.py:5"]
    allowed = {PACKAGE / "app.py", PACKAGE / "cameras.py"}
    found = [line for path in sorted(PACKAGE.rglob("*.py")) if path not in allowed for line in bridge_names(path)]
    assert found == [], "\n".join(found)
