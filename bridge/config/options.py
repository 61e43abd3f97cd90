"""Options: how a configuration option is declared, and the validators sections share.

An option is declared once, as a field of its section's frozen dataclass::

    @dataclass(frozen=True)
    class MqttConfig:
        host: str = option(non_empty_string, REQUIRED, "Broker host name or address.")
        port: int = option(vol.All(vol.Coerce(int), vol.Range(1, 65535)), 1883, "Broker TCP port.")

The field's default is the option's default; :func:`options_of` lists a section's
:class:`Option` s (key, validator, default, description, secret), from which
:func:`section_schema` builds the voluptuous schema and docs/configuration.md is checked.
This module imports nothing of the project.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

#: the default of an option that must be given
REQUIRED = vol.UNDEFINED
#: a slug: camera ids, timelapse ids
SLUG = re.compile(r"^[a-z0-9_]+$")
_TOPIC_LEVEL = re.compile(r"^[^#+\s]+$")

#: a voluptuous validator: a callable that returns the valid value or raises ``vol.Invalid``
Validator = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One configuration option: its key, voluptuous validator, default and documentation.

    ``default`` is the value as it would be written in YAML (``REQUIRED`` when there is none);
    ``secret`` options are masked in ``check-config`` output and in error messages.
    """

    key: str
    validator: Validator
    default: Any
    description: str
    secret: bool = False

    @property
    def required(self) -> bool:
        """Whether the option has no default."""
        return self.default is REQUIRED


def option(
    validator: Validator,
    default: Any = REQUIRED,
    description: str = "",
    *,
    secret: bool = False,
    built: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field that is a configuration option (its key is the field's name).

    ``default`` is both the option's default and the field's; a mutable default (a mapping or a
    list) is copied for each instance. ``built`` makes the field's default when the built value
    differs in form from the YAML one (``objects: {person: {}}`` builds ``ObjectFilter`` s).
    """
    meta = {"option": Option("", validator, default, description, secret)}
    if built is not None:
        return dataclasses.field(default_factory=built, metadata=meta)
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (dict, list, set)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def options_of(section: type) -> tuple[Option, ...]:
    """The options declared (with :func:`option`) as fields of the dataclass ``section``, in
    field order."""
    return tuple(
        dataclasses.replace(f.metadata["option"], key=f.name)
        for f in dataclasses.fields(section)
        if "option" in f.metadata
    )


def default_of(section: type, key: str) -> Any:
    """The default of the option ``key`` of the dataclass ``section``. Raises ``KeyError`` when
    it has no such option."""
    found = [o for o in options_of(section) if o.key == key]
    if not found:
        raise KeyError(f"{section.__name__} has no option {key!r}")
    return found[0].default


def section_schema(options: tuple[Option, ...], extra: Mapping[Any, Any] | None = None) -> vol.Schema:
    """The voluptuous schema of one config section from its options (defaults filled in), with
    ``extra`` keys (sub-sections) added."""
    schema: dict[Any, Any] = {}
    for opt in options:
        marker = vol.Required(opt.key) if opt.required else vol.Optional(opt.key, default=opt.default)
        schema[marker] = opt.validator
    schema.update(extra or {})
    return vol.Schema(schema)


@dataclass(frozen=True)
class Section:
    """A mapping of the configuration: its options and the keys of its sub-sections."""

    options: tuple[Option, ...]
    subsections: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key allowed in the section."""
        return tuple(o.key for o in self.options) + self.subsections

    def option(self, key: object) -> Option | None:
        """The option named ``key``, None if there is none."""
        return next((o for o in self.options if o.key == key), None)


#: the sections of a part of the configuration, by key path pattern relative to it (``""`` is the
#: part itself; ``<id>`` stands for any key of a mapping, ``[]`` for any entry of a list)
Sections = dict[str, Section]


def nest(prefix: str, sections: Sections) -> Sections:
    """``sections`` with their key path patterns put under ``prefix``."""
    return {f"{prefix}.{path}" if path else prefix: section for path, section in sections.items()}


# ---------------------------------------------------------------------------------------------
# validators


def optional(validator: Validator) -> Validator:
    """``None`` or ``validator``, keeping the validator's own error message."""

    def check(value: Any) -> Any:
        return None if value is None else validator(value)

    return check


def positive(kind: type) -> Validator:
    """A number of ``kind`` (int, float) greater than 0."""
    return vol.All(vol.Coerce(kind), vol.Range(min=0, min_included=False))


def integer(low: int, high: int) -> Validator:
    """An integer from ``low`` to ``high`` (inclusive)."""
    return vol.All(vol.Coerce(int), vol.Range(low, high))


def number(low: float | None = None, high: float | None = None) -> Validator:
    """A number (float) from ``low`` to ``high`` (inclusive; None: unbounded)."""
    return vol.All(vol.Coerce(float), vol.Range(min=low, max=high))


def text(min_length: int = 1) -> Validator:
    """A string of at least ``min_length`` characters (numbers are read as text)."""
    return vol.All(vol.Coerce(str), vol.Length(min=min_length))


def matching(pattern: str, msg: str) -> Validator:
    """A string matching the regular expression ``pattern`` (``msg`` says what is expected)."""
    return vol.All(vol.Coerce(str), vol.Match(pattern, msg=msg))


def one_of(*values: str, false: str | None = None) -> Validator:
    """One of ``values``; a YAML ``false`` (a bare ``off``) reads as ``false`` when given."""
    choice = vol.In(values)
    if false is None:
        return choice
    return vol.All(lambda v: false if v is False else v, choice)


def validate_each(
    value: Any,
    kind: str,
    validate: Callable[[str, Any], Any],
    refuse: Callable[[str], str | None] = lambda _key: None,
) -> dict[str, Any]:
    """Validate a mapping of slug id -> body (the ``cameras:``, ``timelapses:`` sections;
    ``kind`` names what they hold in the messages): each id must be a slug that ``refuse(id)``
    does not refuse (it returns why, or None), each body is ``validate(id, body)``. Collects
    every problem with its path (``[id, *path in the body]``) and raises them together as
    ``vol.MultipleInvalid``; returns id -> the validated body."""
    if not isinstance(value, dict):
        raise vol.Invalid(f"expected a mapping of {kind} id to {kind}")
    errors: list[vol.Invalid] = []
    valid: dict[str, Any] = {}
    for key, body in value.items():
        if not isinstance(key, str) or not SLUG.match(key):
            errors.append(vol.Invalid(f"invalid {kind} id, expected a slug [a-z0-9_]+", [key]))
            continue
        why = refuse(key)
        if why is not None:
            errors.append(vol.Invalid(why, [key]))
            continue
        try:
            valid[key] = validate(key, body)
        except vol.MultipleInvalid as err:
            errors += [vol.Invalid(e.error_message, [key, *e.path]) for e in err.errors]
        except vol.Invalid as err:
            errors.append(vol.Invalid(err.error_message, [key, *err.path]))
    if errors:
        raise vol.MultipleInvalid(errors)
    return valid


def topic(value: Any) -> str:
    """An MQTT topic without wildcards or whitespace; leading and trailing ``/`` dropped."""
    value = vol.Coerce(str)(value).strip("/")
    if not value or not all(_TOPIC_LEVEL.match(part) for part in value.split("/")):
        raise vol.Invalid("expected an MQTT topic without wildcards or spaces")
    return value


boolean = vol.Boolean()
string = optional(vol.Coerce(str))
