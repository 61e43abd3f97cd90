"""Logging of malformed HTTP requests: one line with the client address, never a traceback.

aiohttp logs a request it cannot parse (a NUL byte in a header, a line too long, TLS spoken to
the plain port) with ``logger.exception("Error handling request from %s", ...)``: a full
traceback that anyone who can reach the port can put in the bridge log. :class:`HttpLog` is the
logger given to aiohttp's connection handler instead: such a request becomes one line, at
warning for the first one from a client in :data:`WARN_EVERY` seconds and at debug for the
rest, naming the client's address and the kind of fault (never the offending bytes, which may
hold a credential). Everything else aiohttp logs passes through unchanged.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

WARN_EVERY = 60.0  #: seconds between two warnings about the same client
MAX_CLIENTS = 1024  #: clients whose last warning is remembered (least recently warned dropped)
MAX_REASON = 80  #: characters of the parser's reason kept

_LOGGER = logging.getLogger(__name__)


def _reason(err: HttpProcessingError) -> str:
    """The parser's reason without the quoted request bytes: its first line, printable only."""
    text = str(err.message or type(err).__name__).strip()
    first = (text.splitlines() or [type(err).__name__])[0].rstrip(":")
    first = "".join(c if c.isprintable() else "?" for c in first[:MAX_REASON])
    return f"{type(err).__name__}: {first}"


class HttpLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for aiohttp's ``RequestHandler(logger=...)``: malformed requests as one line,
    warned once per client per :data:`WARN_EVERY` seconds; all else to ``logger``
    (``aiohttp.server`` by default)."""

    def __init__(self, logger: logging.Logger | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})
        self._clock = clock
        self._warned: OrderedDict[str, float] = OrderedDict()  #: client -> time of last warning

    def malformed(self, client: str, err: HttpProcessingError) -> None:
        """Log one malformed request from ``client`` (warning or debug, see the class doc)."""
        now = self._clock()
        last = self._warned.get(client)
        reason = _reason(err)
        if last is not None and now - last < WARN_EVERY:
            _LOGGER.debug("api: malformed HTTP request from %s (%s)", client, reason)
            return
        self._warned.pop(client, None)
        self._warned[client] = now
        while len(self._warned) > MAX_CLIENTS:
            self._warned.popitem(last=False)
        _LOGGER.warning(
            "api: malformed HTTP request from %s (%s); more from it within %d s are logged at debug",
            client,
            reason,
            WARN_EVERY,
        )

    def _intercept(self, args: tuple[Any, ...], exc_info: Any) -> bool:
        err = exc_info if isinstance(exc_info, BaseException) else None
        if err is None and exc_info is True:
            err = sys.exc_info()[1]
        if not isinstance(err, HttpProcessingError):
            return False
        self.malformed(str(args[0]) if args else "unknown client", err)
        return True

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._intercept(args, exc_info):
            self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._intercept(args, kwargs.get("exc_info")):
            self.logger.debug(msg, *args, **kwargs)


__all__ = ["MAX_CLIENTS", "WARN_EVERY", "HttpLog"]
