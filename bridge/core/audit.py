"""The audit log: one structured line per call that changes something, whichever way it came in
(REST, JSON-RPC, MQTT command, configuration reload), for every adapter and the composition root
to use (standard library only, so ``mqtt`` and ``api`` need not import each other).

Each line is logged by the ``bridge.audit`` logger at INFO as ``audit {json}``, the JSON object
holding:

``via``
    ``rest``, ``rpc``, ``mqtt`` or ``reload``
``who``
    REST/RPC: ``api_key:<name>``, ``jwt:<sub>``, ``session:<name>``, ``client_cert:<subject>``,
    ``link:<key name>``, ``anonymous`` (auth not required) or ``unauthenticated`` (refused);
    MQTT: ``mqtt`` (the broker does not say which client published); a reload: ``signal``
    (SIGHUP), ``file`` (the file changed) or the API caller
``client``
    the client's address when known (REST, RPC), else null
``what``
    the operation: a route name or JSON-RPC method (``cameras.add``), an MQTT command
    (``cameras.set_enabled``, ``cameras.snapshot_now``, ``cameras.set_detection``,
    ``cameras.set_recording``, ``timelapses.action``) or ``bridge.reload``
``camera``
    the camera's (or timelapse's, as ``timelapse``) id when the call names one, else null
``result``
    REST: the HTTP status; JSON-RPC: ``ok`` or the error code; MQTT: ``ok``, ``invalid`` (a
    payload that is not a command), ``not_found``, ``conflict``, ... (the error kind); a reload:
    ``applied``, ``unchanged`` or ``rejected``

Extra fields per kind: REST ``method``; MQTT ``topic`` and ``value`` (``ON``, ``OFF``, the
timelapse action); a reload ``source`` and ``changes`` (its one-line summary) or ``errors`` (how
many). Never a secret: no credential, no body, no query string; strings are clipped to
:data:`MAX_TEXT` characters and non-ASCII escaped, so one line stays one line.

:func:`configure` adds an optional file of its own (``audit.file``), rotated by size.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from ..config.audit import AuditConfig

LOGGER_NAME = "bridge.audit"
_LOGGER = logging.getLogger(LOGGER_NAME)

MAX_TEXT = 64  #: characters of an id, topic or value kept in an audit line
MAX_ESCAPED = 160  #: ... and at most this many once JSON-escaped (a non-ASCII character takes 6 or 12)


def clip(value: Any, limit: int = MAX_TEXT) -> Any:
    """``value`` cut to ``limit`` characters, and to :data:`MAX_ESCAPED` characters of its
    JSON-escaped (ASCII) form, when it is a string (with ``…`` marking a cut); other values
    unchanged. Linear in ``limit``, whatever the length of ``value``."""
    if not isinstance(value, str):
        return value
    kept: list[str] = []
    size = 0
    for char in value[: limit + 1]:
        size += len(json.dumps(char)) - 2
        if len(kept) == limit or size > MAX_ESCAPED:
            return "".join(kept[:-1]) + "…"
        kept.append(char)
    return value


def record(via: str, who: str, client: str | None, what: str, camera: Any, result: Any, **extra: Any) -> None:
    """Log one audit line (see the module doc); ``camera`` is kept only when it is a string,
    string ``extra`` values are clipped."""
    entry: dict[str, Any] = {
        "via": via,
        "who": who,
        "client": client,
        "what": what,
        **{key: clip(value) for key, value in extra.items()},
        "camera": clip(camera) if isinstance(camera, str) else None,
        "result": result,
    }
    _LOGGER.info("audit %s", json.dumps(entry, ensure_ascii=True, allow_nan=False, default=str))


def result_of(err: BaseException | None) -> str:
    """``ok`` for None, else the error's kind (the nearest class of ``bridge.core.errors``, or
    its own class) in snake case: ``UnknownTimelapse(NotFound)`` -> ``not_found``."""
    if err is None:
        return "ok"
    kinds = [cls for cls in type(err).__mro__ if cls.__module__ == errors.__name__]
    name = (kinds[0] if kinds else type(err)).__name__
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


#: who asked for a reload, by the reloader's ``source`` (the API's reloads are audited by the API,
#: which knows the caller)
RELOAD_WHO = {"SIGHUP": "signal", "file change": "file"}


def reload_fields(result: dict[str, Any]) -> dict[str, Any]:
    """The audit fields of a reload's result (``ReloadResult.as_data()`` form): ``outcome``
    (``applied``, ``unchanged`` or ``rejected``) and ``changes`` (the summary) or ``errors``
    (their number: the lines themselves may quote the file)."""
    if result.get("errors"):
        return {"outcome": "rejected", "errors": len(result["errors"])}
    if result.get("applied"):
        return {"outcome": "applied", "changes": str(result.get("summary", ""))[:200]}
    return {"outcome": "unchanged"}


def reload(source: str, result: dict[str, Any]) -> None:
    """The audit line of a reload the bridge did by itself (``source`` ``SIGHUP`` or ``file
    change``; ``result`` as :func:`reload_fields` takes it). Reloads from other sources are
    audited by the adapter that took the call."""
    fields = reload_fields(result)
    who = RELOAD_WHO.get(source, source)
    record("reload", who, None, "bridge.reload", None, fields.pop("outcome"), source=source, **fields)


class _Message(logging.Formatter):
    """Only the JSON object of an audit line, with the time in front (ISO 8601, UTC)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds")
        return f"{stamp.replace('+00:00', 'Z')} {record.getMessage().removeprefix('audit ')}"


class AuditFile:
    """The audit file handler of the running bridge (at most one): :meth:`apply` sets it to an
    :class:`~bridge.config.audit.AuditConfig` (again at a reload), :meth:`close` removes it."""

    def __init__(self) -> None:
        self._handler: logging.handlers.RotatingFileHandler | None = None
        self._config: AuditConfig | None = None
        self._level = logging.NOTSET  #: the logger's own level before a file was set

    def apply(self, config: AuditConfig) -> None:
        """Write audit lines to ``config.file`` (rotated at ``max_bytes``, ``backups`` kept), or
        to no file when it is None. Raises OSError when the file cannot be opened (the old
        handler then stays)."""
        if config == self._config:
            return
        handler = None
        if config.file is not None:
            handler = logging.handlers.RotatingFileHandler(
                config.file, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
            )
            handler.setFormatter(_Message())
            handler.setLevel(logging.INFO)
        self.close()
        if handler is not None:
            _LOGGER.addHandler(handler)
            self._level = _LOGGER.level
            if _LOGGER.getEffectiveLevel() > logging.INFO:  # audit lines are kept whatever log_level says
                _LOGGER.setLevel(logging.INFO)
        self._handler, self._config = handler, config

    def close(self) -> None:
        """Stop writing the file (flushed and closed)."""
        if self._handler is not None:
            _LOGGER.removeHandler(self._handler)
            self._handler.close()
            _LOGGER.setLevel(self._level)
        self._handler, self._config = None, None


__all__ = [
    "LOGGER_NAME",
    "MAX_TEXT",
    "RELOAD_WHO",
    "AuditFile",
    "clip",
    "record",
    "reload",
    "reload_fields",
    "result_of",
]
