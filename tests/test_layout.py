"""Module boundaries of the bridge package: what one module uses of another is public (no
leading underscore), so a helper shared between modules is documented where it lives."""

from __future__ import annotations

import ast
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
