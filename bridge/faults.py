"""Repeating faults, said once: the one "warn once, then debug until it clears" log of the
bridge (STYLE 8), used by MediaMTX's health check, the cluster member and the config reloader.
The one retry delay is ``bridge/backoff.py``'s."""

from __future__ import annotations

import logging
from typing import Any


class WarnOnce:
    """A fault that repeats (a peer away, a disk full): :meth:`failed` logs the first time at
    WARNING and then at DEBUG until :meth:`cleared`, which logs the recovery once (at
    ``recovery_level``) when the fault was active. ``active`` says whether it is."""

    def __init__(self, logger: logging.Logger, recovery_level: int = logging.INFO) -> None:
        self._logger = logger
        self._recovery = recovery_level
        self.active = False

    def failed(self, message: str, *args: Any) -> None:
        """Log ``message % args``: WARNING the first time, DEBUG while the fault lasts."""
        self._logger.log(logging.DEBUG if self.active else logging.WARNING, message, *args)
        self.active = True

    def cleared(self, message: str | None = None, *args: Any) -> bool:
        """The fault is gone: log ``message`` (if given) when it was active. Returns whether
        it was active."""
        was, self.active = self.active, False
        if was and message is not None:
            self._logger.log(self._recovery, message, *args)
        return was
