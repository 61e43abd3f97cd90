"""The user-facing text of configuration errors: one ``key.path: message`` line per problem,
naming what was found (secrets masked) and what is allowed.

* a bad value: ``mqtt.port: expected an integer from 1 to 65535, got 'many'``;
* an unknown key: ``mqtt.pasword: unknown key (did you mean password?); allowed: host, ...``
  (its value is not shown: it may be a misspelt secret);
* a missing key: ``mqtt.host: required key missing (a non-empty string: Broker host ...)``.

Imports nothing of the project but :mod:`bridge.redact` (URL credentials are masked in values).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import voluptuous as vol

from ..redact import MASK, mask_url
from .options import Option, Section, Sections, Validator

_MESSAGES = {
    "extra keys not allowed": "unknown key",
    "required key not provided": "required key missing",
}
#: voluptuous' own messages, which say little; replaced by the option's allowed values
_GENERIC = re.compile(
    r"^(expected (int|float|str|bool|boolean)|value must be .*|length of value must be .*"
    r"|not a valid value.*)$"
)
_MAX_VALUE = 60  #: characters of a value shown in a message


def _segment(key: Any) -> str:
    """One key of a path as messages show it: plain when short and printable, else quoted with
    its control characters escaped and cut, so a key cannot break a message into lines."""
    text = str(key)
    if text and text.isprintable() and ": " not in text and len(text) <= _MAX_VALUE:
        return text
    return repr(text[:_MAX_VALUE]) + ("..." if len(text) > _MAX_VALUE else "")


def join_path(path: Iterable[Any]) -> str:
    """A voluptuous error path as the dotted key path of messages (``cameras.door.url``); odd
    keys (empty, control characters, longer than 60 characters) quoted, see :func:`_segment`."""
    return ".".join(_segment(p) for p in path) or "(top level)"


def error_message_of(err: vol.Invalid) -> str:
    """voluptuous' text of an error in the bridge's words, without the value or the allowed
    values (see :func:`explain` for those)."""
    return _MESSAGES.get(err.error_message, err.error_message)


# ---------------------------------------------------------------------------------------------
# what a validator allows


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(check: vol.Range) -> str:
    low, high = check.min, check.max
    if low is not None and high is not None:
        return f"from {_number(low)} to {_number(high)}"
    if low is not None:
        return f"{'of at least' if check.min_included else 'greater than'} {_number(low)}"
    return f"{'of at most' if check.max_included else 'less than'} {_number(high)}"


def describe(validator: Validator) -> str | None:
    """What ``validator`` accepts, in words (``an integer from 1 to 65535``, ``one of tcp,
    udp``, ``true or false``), or None when it is a validator of its own with its own message."""
    kind, bounds, nullable, length, choice, match = None, None, False, None, None, None
    stack = [validator]
    while stack:
        v = stack.pop(0)
        if isinstance(v, vol.All):
            stack[:0] = v.validators
        elif isinstance(v, vol.Coerce):
            names: dict[Any, str] = {int: "an integer", float: "a number", str: "a string"}
            kind = names.get(v.type, kind)
        elif isinstance(v, vol.Range):
            bounds = _range(v)
        elif isinstance(v, vol.Length):
            length = v
        elif isinstance(v, vol.In):
            choice = "one of " + ", ".join(str(c) for c in v.container)  # type: ignore[union-attr]
        elif isinstance(v, vol.Match):
            match = (v.msg or f"text matching {v.pattern.pattern}").removeprefix("expected ")
        elif getattr(v, "__name__", "") == "Boolean":
            kind = "true or false"
        elif getattr(v, "__qualname__", "") == "optional.<locals>.check" and v.__closure__:
            nullable = True
            stack[:0] = [c.cell_contents for c in v.__closure__ if callable(c.cell_contents)]
        elif getattr(v, "__name__", "") in ("Lower", "<lambda>"):
            continue
        else:
            return None
    if choice:
        text = choice
    elif match:
        text = match
    elif length is not None and kind == "a string":
        if (length.min, length.max) == (1, None):
            text = "a non-empty string"
        elif length.max is None:
            text = f"a string of at least {length.min} characters"
        else:
            text = f"a string of {length.min or 0} to {length.max} characters"
    elif kind is None:
        return None
    else:
        text = f"{kind} {bounds}" if bounds else kind
    return f"{text}, or null" if nullable else text


# ---------------------------------------------------------------------------------------------
# where an error is


def _segments(pattern: str) -> list[str]:
    out: list[str] = []
    for part in pattern.split(".") if pattern else []:
        if part.endswith("[]"):
            out += [part[:-2], "*"]
        else:
            out.append("*" if part.startswith("<") else part)
    return out


def section_at(sections: Sections, path: list[Any]) -> Section | None:
    """The section whose key path pattern matches ``path`` (list entries are numbers)."""
    for pattern, section in sections.items():
        segments = _segments(pattern)
        if len(segments) == len(path) and all(s in ("*", str(p)) for s, p in zip(segments, path)):
            return section
    return None


def _lookup(data: Any, path: list[Any]) -> tuple[bool, Any]:
    """(found, value) of ``path`` in the raw ``data``."""
    for part in path:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        else:
            return False, None
    return True, data


def shown(value: Any, secret: bool = False) -> str:
    """``value`` as a message shows it: YAML-like, URL credentials masked, a secret as ``***``,
    a mapping or list by its kind, long text cut."""
    if secret and not (isinstance(value, str) and "://" in value):
        return f"'{MASK}'"  # a URL keeps its shape, with its password masked below
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = mask_url(value)
        if len(text) > _MAX_VALUE:
            text = text[:_MAX_VALUE] + "..."
        return repr(text)
    return mask_url(str(value))


def _closest(key: str, known: tuple[str, ...]) -> list[str]:
    """The known key ``key`` is most likely a misspelling of (difflib), else the one it is the
    start of (``renew`` -> ``renew_interval``); none or one."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close and len(key) >= 3:
        close = [k for k in known if k.startswith(key)][:1]
    return close


def _fails(opt: Option, value: Any) -> bool:
    """Whether the option's own validator refuses ``value`` (else the error is a check across
    options, about which the value says nothing)."""
    try:
        opt.validator(value)
    except (vol.Invalid, ValueError, TypeError):
        return True
    return False


def explain(err: vol.Invalid, data: Any, sections: Sections, prefix: Iterable[Any] = ()) -> str:
    """The ``key.path: message`` line of one voluptuous error raised validating ``data`` (the
    raw mapping at ``prefix`` of the file, whose sections are ``sections``)."""
    path = [*prefix, *err.path]
    where = join_path(path)
    message = err.error_message
    parent = section_at(sections, path[:-1]) if path else None
    opt = parent.option(path[-1]) if parent is not None else None
    if message == "extra keys not allowed":
        text = "unknown key"
        if parent is not None:
            close = _closest(str(path[-1]), parent.keys)
            if close:
                text += f" (did you mean {close[0]}?)"
            text += "; allowed: " + ", ".join(parent.keys)
        return f"{where}: {text}"
    if message == "required key not provided":
        if opt is None:
            return f"{where}: required key missing"
        allowed = describe(opt.validator)
        return f"{where}: required key missing ({f'{allowed}: ' if allowed else ''}{opt.description})"
    allowed = describe(opt.validator) if opt is not None else None
    text = f"expected {allowed}" if allowed and _GENERIC.match(message) else error_message_of(err)
    found, value = _lookup(data, [*err.path])
    if found and "got " not in text and (opt is None or _fails(opt, value)):
        value_text = shown(value, secret=opt is not None and opt.secret)
        # a mapping or list only where its type is the problem; a text the message quotes once
        if (text.startswith("expected") or not isinstance(value, (dict, list, tuple))) and not (
            isinstance(value, str) and value_text in text
        ):
            text += f", got {value_text}"
    return f"{where}: {text}"


def explain_all(err: vol.Invalid, data: Any, sections: Sections, prefix: Iterable[Any] = ()) -> list[str]:
    """Every line of :func:`explain` for ``err`` (one error or several), sorted, without
    repeats."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return sorted({explain(e, data, sections, prefix) for e in errors})


def yaml_error(err: Exception, source: str | None) -> str:
    """The line of a YAML syntax error: ``FILE:LINE:COLUMN: invalid YAML: problem (context)``
    (``(yaml) line L, column C: ...`` without a file name); lines and columns from 1."""
    mark = getattr(err, "problem_mark", None)
    character, position = getattr(err, "character", None), getattr(err, "position", None)
    if mark is None and isinstance(character, int) and isinstance(position, int):  # yaml's ReaderError
        return (
            f"{source or '(yaml)'}: invalid YAML: character #x{character:04x} at offset {position} "
            "is not allowed (control characters other than tab and newline)"
        )
    if mark is None:
        return f"{source or '(yaml)'}: invalid YAML: {err}"
    line, column = mark.line + 1, mark.column + 1
    where = f"{source}:{line}:{column}" if source else f"(yaml) line {line}, column {column}"
    text = f"{where}: invalid YAML: {getattr(err, 'problem', None) or 'syntax error'}"
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return text
