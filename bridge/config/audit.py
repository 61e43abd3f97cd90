"""The ``audit:`` section: where the audit log (one line per call that changes something, over
REST, JSON-RPC or MQTT, and per configuration reload) is written besides the ``bridge.audit``
logger: an optional file of its own, rotated by size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from .options import Section, Sections, integer, option, optional, options_of, section_schema, text


def _audit_file(value: object) -> str:
    """A file path whose directory exists and is writable (the file is made at start)."""
    path = os.path.expanduser(text()(value))
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise vol.Invalid(f"{path} is a directory; expected a file path")
    if not os.path.isdir(folder):
        raise vol.Invalid(f"directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise vol.Invalid(f"{path} is not writable by this user")
    return path


@dataclass(frozen=True)
class AuditConfig:
    """``audit:`` section. ``max_bytes`` in bytes; ``backups`` the number of rotated files kept."""

    file: str | None = option(
        optional(_audit_file),
        None,
        "File the audit lines are also written to (one JSON object per line); unset: only the log.",
    )
    max_bytes: int = option(integer(4096, 2**40), 10 * 1024 * 1024, "Size in bytes at which the audit file is rotated.")
    backups: int = option(integer(1, 100), 5, "Rotated audit files kept (`audit.log.1` ... `audit.log.N`).")


AUDIT_OPTIONS = options_of(AuditConfig)
AUDIT_SCHEMA = section_schema(AUDIT_OPTIONS)
SECTIONS: Sections = {"": Section(AUDIT_OPTIONS)}


def build(valid: dict[str, Any]) -> AuditConfig:
    """The :class:`AuditConfig` of the validated section."""
    return AuditConfig(**valid)
