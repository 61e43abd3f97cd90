"""The user-facing text of configuration errors: ``key.path: message`` lines."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

_MESSAGES = {
    "extra keys not allowed": "unknown key",
    "required key not provided": "required key missing",
}


def join_path(path: list[Any]) -> str:
    """A voluptuous error path as the dotted key path of messages (``cameras.door.url``)."""
    return ".".join(str(p) for p in path) or "(top level)"


def error_message_of(err: vol.Invalid) -> str:
    """The user-facing text of a voluptuous error (what was expected)."""
    return _MESSAGES.get(err.error_message, err.error_message)
