"""Hot reload: the configuration file is re-read on SIGHUP, on ``POST /api/bridge/reload``, on
``camera-bridge reload`` and when the file changes (watched by polling its size and mtime,
debounced), validated completely, and applied only when valid.

The :class:`Reloader` holds no pointer to the bridge: it is given ``apply(config, diff)``, the
composition root's function that restarts exactly what changed, and ``on_result(result)``,
which publishes the outcome (the bridge state carries ``config_error`` while the file on disk is
rejected). An invalid file changes nothing: the running configuration stays, every error is
logged with its key path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, parse
from .config.diff import ConfigDiff, diff
from .config.history import ConfigHistory
from .core import audit
from .faults import WarnOnce
from .service import Service

_LOGGER = logging.getLogger(__name__)

#: seconds between looks at the file, and how long it must stay unchanged before a reload
POLL_INTERVAL = 1.0
DEBOUNCE = 0.5


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of one reload: ``applied`` (a valid file with changes, now running),
    ``errors`` (``key.path: message`` lines of a rejected file; empty when valid), the ``diff``
    (when valid), its ``source`` (``SIGHUP``, ``api``, ``file change``, ...) and the time."""

    applied: bool
    source: str
    errors: tuple[str, ...] = ()
    diff: ConfigDiff = field(default_factory=ConfigDiff)
    #: sections whose change takes effect only at the next start (the bridge said so in its log)
    restart_needed: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)

    def as_data(self) -> dict[str, Any]:
        """JSON-able form (for the API and the bridge state)."""
        return {
            "applied": self.applied,
            "source": self.source,
            "errors": list(self.errors),
            "changes": self.diff.as_data(),
            "summary": self.diff.summary(),
            "restart_needed": list(self.restart_needed),
            "at": self.at,
        }


class Reloader(Service):
    """Reloads the configuration file ``path`` into the running bridge (task ``config.watch``).

    ``apply(config, diff)`` restarts what changed and returns the sections it could not apply
    while running (they take effect at the next start).

    ``text`` is the file's text the bridge started with (recorded as the first history entry
    when the history is empty or its newest entry differs). ``watch``: poll the file.
    """

    def __init__(
        self,
        path: Path,
        text: str,
        config: Config,
        apply: Callable[[Config, ConfigDiff], Awaitable[list[str]]],
        on_result: Callable[[ReloadResult], None],
        history: ConfigHistory,
        *,
        watch: bool = True,
        poll: float = POLL_INTERVAL,
        debounce: float = DEBOUNCE,
    ) -> None:
        super().__init__()
        self.path = path
        self.config = config
        self._text = text
        self._apply = apply
        self._on_result = on_result
        self.history = history
        self._watch = watch
        self._poll = poll
        self._debounce = debounce
        self._lock = asyncio.Lock()
        #: errors of the file on disk when it was rejected (the running config is older); None when fine
        self.config_error: tuple[str, ...] | None = None
        self.last: ReloadResult | None = None
        self._history_fault = WarnOnce(_LOGGER)  #: the history folder not writable

    async def _start(self) -> None:
        latest = await asyncio.to_thread(self.history.latest_text)
        if latest != self._text:
            try:
                await asyncio.to_thread(self.history.record, self._text, "started", "start")
            except OSError as err:
                self._history_fault.failed("config history: cannot write to %s: %s", self.history.root, err)

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"config.watch": self._watch_loop()} if self._watch else {}

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    async def _watch_loop(self) -> None:
        seen = self._stamp()
        while True:
            await asyncio.sleep(self._poll)
            now = self._stamp()
            if now == seen or now is None:
                continue
            while True:  # debounce: an editor writing in several steps
                await asyncio.sleep(self._debounce)
                settled = self._stamp()
                if settled == now:
                    break
                now = settled
            seen = now
            await self.reload("file change")

    async def reload(self, source: str, text: str | None = None) -> ReloadResult:
        """Read (or take ``text``), validate and apply the configuration; one at a time.

        Never raises for a bad file: the result carries its errors. Raises what ``apply``
        raises (a part failing to restart), after logging it. A reload of the bridge's own
        (``SIGHUP``, ``file change``) is one audit line (``bridge.core.audit``); the API audits
        the reloads asked through it.
        """
        try:
            result = await self._reload(source, text)
        except BaseException as err:
            if source in audit.RELOAD_WHO:
                audit.record(
                    "reload",
                    audit.RELOAD_WHO[source],
                    None,
                    "bridge.reload",
                    None,
                    "failed",
                    source=source,
                    error=audit.result_of(err),
                )
            raise
        if source in audit.RELOAD_WHO and (source != "file change" or result.applied or result.errors):
            audit.reload(source, result.as_data())  # (a file saved without a change is not a reload)
        return result

    async def _reload(self, source: str, text: str | None) -> ReloadResult:
        async with self._lock:
            if text is None:
                try:
                    text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
                except OSError as err:
                    return self._rejected(source, [f"(file): cannot read {self.path}: {err.strerror}"])
            if text == self._text and self.config_error is None and source == "file change":
                return ReloadResult(False, source)
            try:
                new = await asyncio.to_thread(parse, text, None, str(self.path))
            except ConfigError as err:
                return self._rejected(source, err.errors)
            change = diff(self.config, new)
            self._text = text
            self.config_error = None
            if change.empty:
                result = ReloadResult(False, source, diff=change)
                _LOGGER.info("config reload (%s): nothing changed", source)
            else:
                _LOGGER.info("config reload (%s): applying %s", source, change.summary())
                restart = await self._apply(new, change)
                self.config = new
                result = ReloadResult(True, source, diff=change, restart_needed=tuple(restart))
                try:
                    await asyncio.to_thread(self.history.record, text, change.summary(), source)
                except OSError as err:
                    self._history_fault.failed("config history: cannot write to %s: %s", self.history.root, err)
                else:
                    self._history_fault.cleared("config history: %s writable again", self.history.root)
            self.last = result
            self._on_result(result)
            return result

    def _rejected(self, source: str, errors: list[str]) -> ReloadResult:
        self.config_error = tuple(errors)
        _LOGGER.error("config reload (%s): %s is invalid, the running configuration stays:", source, self.path)
        for line in errors:
            _LOGGER.error("  %s", line)
        result = ReloadResult(False, source, tuple(errors))
        self.last = result
        self._on_result(result)
        return result
