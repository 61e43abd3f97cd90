"""Strict JSON on the wire: parsing untrusted frames within bounds, strict replies, clipped echoes.

What a client sends is parsed by :func:`loads`, which refuses what :mod:`json` would accept but
a strict peer would not, and what could make the bridge work hard:

* ``NaN``, ``Infinity`` and ``-Infinity`` literals (not JSON);
* numbers that do not survive a round trip through a 64-bit float: ``1e999`` (overflows to
  infinity), ``1e-999`` (underflows to 0); integers of more than 4300 digits (Python's limit);
* nesting deeper than :data:`MAX_DEPTH` arrays/objects, found on the text before parsing (so
  ``"[" * 100000`` is a clear error, not a RecursionError), and more than
  :data:`MAX_CONTAINERS` arrays/objects in one frame (a million tiny arrays would keep the
  garbage collector busy for half a second).

What the bridge sends is serialised by :func:`dumps` (``allow_nan=False``: a reply is JSON or an
error, never ``Infinity``). Untrusted text that is echoed back or logged goes through
:func:`clip` first, so its length no longer matters to whatever masks or formats it.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from ..core.errors import BridgeError

MAX_DEPTH = 64  #: deepest nesting of arrays/objects accepted
MAX_CONTAINERS = 10_000  #: most arrays/objects in one frame (each costs the garbage collector)
MAX_ECHO = 120  #: characters of untrusted text kept when it is echoed or logged
MAX_METHOD = 128  #: longest JSON-RPC method name, characters
MAX_ID = 128  #: longest JSON-RPC string id, characters
MAX_PARAMS = 64 * 1024  #: largest JSON-RPC ``params``, characters of JSON text


class WireError(BridgeError, ValueError):
    """Raised when a frame is not strict, bounded JSON; the message says what was wrong (any
    quoted input clipped to :data:`MAX_ECHO` characters)."""


def clip(text: object, limit: int = MAX_ECHO) -> str:
    """``str(text)``, cut to ``limit`` characters plus a note of the full length when longer.

    >>> clip("x" * 300, 5)
    'xxxxx... (300 characters)'
    """
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _constant(name: str) -> Any:
    raise WireError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError(f"number {clip(text, 40)} is out of range for a 64-bit float")
    if value == 0.0 and any(c in "123456789" for c in text.lower().partition("e")[0]):
        raise WireError(f"number {clip(text, 40)} is too small for a 64-bit float (it would be 0)")
    return value


# Checks on the text of a frame before it is parsed, all linear on any input: string literals
# (an unterminated one runs to the end, so no attempt fails and backtracks), number literals that
# may over- or underflow a float, and the brackets that are left.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?')
_EXTREME_NUMBER = re.compile(rb"[eE][+-]?0*+[1-9][0-9]{2,}+|[0-9]{300,}+")
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_DELTA = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


def nesting(structure: bytes) -> int:
    """How deeply the brackets of ``structure`` (JSON text without its string literals) nest;
    C-speed iterators only, so a 1 MiB frame takes milliseconds."""
    brackets = structure.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def loads(frame: str | bytes, *, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS) -> Any:
    """Parse one untrusted JSON text strictly (see the module doc); bytes are UTF-8.

    Raises :class:`WireError` (a ``ValueError``) naming the problem: not JSON (with the position),
    a non-finite or out-of-range number, nesting deeper than ``max_depth``, or more than
    ``max_containers`` arrays/objects (checked on the text, before anything is built).
    """
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
    except UnicodeDecodeError as err:
        raise WireError(f"not UTF-8: {err.reason} at byte {err.start}") from None
    raw = text.encode("utf-8", "surrogatepass")
    if raw.count(b"[") + raw.count(b"{") > max_depth:  # else neither bound can be exceeded
        structure = _STRING.sub(b'""', raw) if b'"' in raw else raw
        containers = structure.count(b"[") + structure.count(b"{")
        if containers > max_containers:
            raise WireError(f"{containers} arrays/objects; at most {max_containers}")
        if containers > max_depth:
            found = nesting(structure)
            if found > max_depth:
                raise WireError(f"nested deeper than {max_depth} levels ({found})")
    # rare (a match inside a string only costs a slower parse): check every float then
    extreme = _EXTREME_NUMBER.search(raw) is not None
    try:
        if extreme:
            return json.loads(text, parse_constant=_constant, parse_float=_float)
        return json.loads(text, parse_constant=_constant)
    except WireError:
        raise
    except RecursionError:  # cannot happen within max_depth; kept as a last guard
        raise WireError(f"nested deeper than {max_depth} levels") from None
    except ValueError as err:  # JSONDecodeError, more than 4300 digits
        raise WireError(clip(err, 200)) from None


def dumps(value: Any) -> str:
    """``value`` as strict JSON text. Raises ``ValueError`` for NaN/Infinity and ``TypeError``
    for what JSON cannot represent."""
    return json.dumps(value, allow_nan=False)


def oversized(request: dict[str, Any]) -> str | None:
    """Which member of a JSON-RPC request object exceeds its bound (:data:`MAX_METHOD`,
    :data:`MAX_ID`, :data:`MAX_PARAMS`), as a message quoting at most the start of it; None when
    every member is within bounds."""
    name = request.get("method")
    if isinstance(name, str) and len(name) > MAX_METHOD:
        return f"method name of {len(name)} characters ({clip(name, 40)}); at most {MAX_METHOD}"
    rid = request.get("id")
    if isinstance(rid, str) and len(rid) > MAX_ID:
        return f"id of {len(rid)} characters; at most {MAX_ID}"
    if "params" in request:
        length = len(json.dumps(request["params"]))
        if length > MAX_PARAMS:
            return f"params of {length} characters of JSON; at most {MAX_PARAMS}"
    return None


__all__ = [
    "MAX_CONTAINERS",
    "MAX_DEPTH",
    "MAX_ECHO",
    "MAX_ID",
    "MAX_METHOD",
    "MAX_PARAMS",
    "WireError",
    "clip",
    "dumps",
    "loads",
    "nesting",
    "oversized",
]
