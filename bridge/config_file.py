"""Edits of the YAML configuration file that keep its comments, order, quotes and ``!env`` tags
(ruamel.yaml round-trip), e.g. ``camera-bridge discover --add`` writing a found camera."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .config import camera_from_data
from .errors import ConfigError
from .files import write_atomic


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def add_camera(path: str | os.PathLike[str], cam_id: str, camera: dict[str, Any], comment: str | None = None) -> None:
    """Add camera ``cam_id`` with options ``camera`` (``{"name": ..., "url": ...}``) under
    ``cameras:`` of the YAML file at ``path`` (the section is created when missing), with
    ``comment`` as a comment line above it. The rest of the file stays as it was (comments,
    order, quotes, tags); the file is replaced atomically and keeps its permission bits.

    Raises :class:`ConfigError` when the file cannot be read or parsed, ``cameras:`` is not a
    mapping, the id exists already, or the camera's options are invalid (same messages as the
    configuration's own validation)."""
    from ruamel.yaml.error import YAMLError

    file = Path(path)
    camera_from_data(cam_id, camera)  # same checks as a camera of the file; raises ConfigError
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"(file): cannot read {file}: {err.strerror}"]) from err
    yaml = _yaml()
    try:
        doc = yaml.load(text)
    except YAMLError as err:
        raise ConfigError([f"(file): {file} is not valid YAML: {err}"]) from err
    if doc is None:
        from ruamel.yaml.comments import CommentedMap

        doc = CommentedMap()
    if not hasattr(doc, "insert"):
        raise ConfigError([f"(file): {file} does not hold a mapping at its top"])
    cameras = doc.get("cameras")
    if cameras is None:
        from ruamel.yaml.comments import CommentedMap

        cameras = doc["cameras"] = CommentedMap()
    if not hasattr(cameras, "insert"):
        raise ConfigError([f"cameras: expected a mapping of camera id to camera, found {type(cameras).__name__}"])
    if cam_id in cameras:
        raise ConfigError([f"cameras.{cam_id}: a camera with this id exists already in {file}"])
    from ruamel.yaml.comments import CommentedMap

    cameras[cam_id] = CommentedMap(camera)
    if comment:
        cameras.yaml_set_comment_before_after_key(cam_id, before=comment, indent=_indent_of(cameras))
    out = io.StringIO()
    yaml.dump(doc, out)
    mode = file.stat().st_mode & 0o777
    write_atomic(file, out.getvalue().encode("utf-8"), mode=mode)


def _indent_of(cameras: Any) -> int:
    """Column of the keys under ``cameras:`` (2 unless the file indents otherwise)."""
    try:
        first = next(iter(cameras))
        return int(cameras.lc.key(first)[1])
    except (StopIteration, KeyError, AttributeError, TypeError, ValueError):
        return 2
