"""Loading the configuration: YAML with the ``!env NAME`` tag, ``CAMERA_BRIDGE_*`` environment
overrides, validation into a :class:`~bridge.config.root.Config`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from ..errors import ConfigError
from . import root
from .messages import explain_all, join_path, shown, yaml_error
from .root import Config
from .secrets import register_secrets

ENV_PREFIX = "CAMERA_BRIDGE_"


class _EnvRef:
    """Placeholder for an ``!env NAME`` whose variable is not set (reported with its key path)."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Loader(yaml.SafeLoader):
    """SafeLoader with the ``!env NAME`` / ``!env NAME:default`` tag."""

    environ: Mapping[str, str] = os.environ


def _env_tag(loader: _Loader, node: yaml.Node) -> Any:
    spec = loader.construct_scalar(node)
    name, sep, default = spec.partition(":")
    if name in loader.environ:
        return loader.environ[name]  # a string; the schema coerces numbers and booleans
    return default if sep else _EnvRef(name)


_Loader.add_constructor("!env", _env_tag)


def _check_duplicates(node: yaml.Node, path: list[str], errors: list[str]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                what = "duplicate camera id" if path == ["cameras"] else "duplicate key"
                errors.append(f"{join_path(path + [key])}: {what} (line {key_node.start_mark.line + 1})")
            seen.add(key)
            _check_duplicates(value_node, path + [key], errors)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, path + [str(i)], errors)


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``CAMERA_BRIDGE_MQTT__PASSWORD=x`` sets ``mqtt.password``; levels split on ``__``.

    Top-level options are set without ``__`` (``CAMERA_BRIDGE_LOG_LEVEL``); other variables of
    the prefix (``CAMERA_BRIDGE_CONFIG``) are left alone.
    """
    top = {o.key for o in root.TOP_OPTIONS}
    for name, raw in sorted(environ.items()):
        rest = name[len(ENV_PREFIX) :].lower()
        if not name.startswith(ENV_PREFIX) or ("__" not in rest and rest not in top):
            continue
        *parents, leaf = rest.split("__")
        node: dict[str, Any] = data
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = raw  # a string; the schema coerces numbers and booleans


def _missing_env(value: Any, path: list[Any], errors: list[str]) -> None:
    if isinstance(value, _EnvRef):
        errors.append(f"{join_path(path)}: environment variable {value.name} is not set")
    elif isinstance(value, dict):
        for key, item in value.items():
            _missing_env(item, path + [key], errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _missing_env(item, path + [i], errors)


def parse(text: str, environ: Mapping[str, str] | None = None, source: str | None = None) -> Config:
    """Parse and validate YAML ``text`` into a :class:`Config`.

    ``environ`` (default ``os.environ``) supplies ``!env`` values and ``CAMERA_BRIDGE_*``
    overrides; ``source`` names the file in YAML syntax errors (``FILE:LINE:COLUMN: ...``).
    Raises :class:`ConfigError` listing every problem as ``key.path: message``.
    """
    environ = os.environ if environ is None else environ
    errors: list[str] = []
    try:
        loader = _Loader(text)  # reads the text: a control character is a ReaderError here
    except yaml.YAMLError as err:
        raise ConfigError([yaml_error(err, source)]) from err
    loader.environ = environ
    if source:
        loader.name = source
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_duplicates(node, [], errors)
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as err:
        raise ConfigError([yaml_error(err, source)]) from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError([f"(top level): expected a mapping with mqtt and cameras, got {shown(data)}"])
    _apply_env_overrides(data, environ)
    _missing_env(data, [], errors)
    reported = {line.split(": ", 1)[0] for line in errors}
    try:
        valid = root.SCHEMA(data)
    except vol.MultipleInvalid as err:
        errors += [line for line in explain_all(err, data, root.SECTIONS) if line.split(": ", 1)[0] not in reported]
    if not errors:
        errors += root.check(valid)
    if errors:
        raise ConfigError(errors)
    config = root.build(valid)
    register_secrets(config)
    return config


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the YAML file at ``path``; see :func:`parse`.

    Raises :class:`ConfigError` (also when the file cannot be read).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"(file): cannot read {path}: {err.strerror}"]) from err
    return parse(text, environ, source=str(path))
